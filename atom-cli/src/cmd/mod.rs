//! One module per command.

pub mod add;
pub mod build;
mod deps;
pub mod eval;
pub mod fetch;
pub mod list;
pub mod lock;
pub mod new;
pub mod publish;
mod query;
pub mod remove;
pub mod show;
pub mod update;
pub mod verify;
pub mod versions;
