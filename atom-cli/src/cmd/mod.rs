//! One module per command.

pub mod add;
mod deps;
pub mod fetch;
pub mod lock;
pub mod new;
pub mod publish;
pub mod remove;
pub mod update;
pub mod verify;
