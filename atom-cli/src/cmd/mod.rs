//! One module per command.

pub mod list;
pub mod new;
pub mod publish;
mod query;
pub mod show;
pub mod verify;
pub mod versions;
