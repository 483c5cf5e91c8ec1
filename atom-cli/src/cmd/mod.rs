//! One module per command.

pub mod new;
pub mod publish;
pub mod verify;
