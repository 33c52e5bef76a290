//! The safe framework between nbdkit's C ABI and a plugin written in Rust.
//!
//! * [`Error`]: an errno and a message, reported to nbdkit in one place.
//! * [`log`]: `nbdkit_debug` / `nbdkit_error` without printf hazards.
//! * [`server`]: safe wrappers of the server functions.
//! * [`Plugin`] and [`register`]: a trait whose default methods are
//!   nbdkit's own defaults, turned into a `struct nbdkit_plugin` whose
//!   every callback goes through one panic-catching trampoline.
//! * [`backend`]: the `ScriptBackend` trait, the narrow interface an
//!   embedded interpreter offers to a scripting plugin.
//!
//! This crate knows nothing of Python.

pub mod backend;
mod error;
pub mod log;
mod newer;
pub mod parse;
mod plugin;
pub mod server;
mod trampoline;

#[cfg(feature = "test-stubs")]
pub mod test_stubs;

pub use error::{Error, Result};
pub use plugin::{register, Plugin, PluginInfo, ThreadModel};
pub use server::{Exports, Extents};
