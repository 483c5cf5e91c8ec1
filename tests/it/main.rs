//! End-to-end tests of the `eka` binary, in one test binary.

mod support;

mod bad_input;
mod module_deps;
mod modules;
mod new;
mod publish;
mod query;
mod resolve;
mod servers;
mod verify;
