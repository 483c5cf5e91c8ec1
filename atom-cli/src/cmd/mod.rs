//! One module per command.

pub mod add;
pub mod build;
pub mod cache;
pub mod completions;
pub mod config;
mod deps;
pub mod eval;
pub mod fetch;
pub mod hook;
pub mod init;
pub mod list;
pub mod lock;
pub mod man;
pub mod new;
pub mod publish;
mod query;
pub mod remove;
pub mod show;
pub mod sign;
pub mod update;
pub mod verify;
pub mod versions;
pub mod yank;
