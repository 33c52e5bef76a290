//! [`ScriptBackend`] on CPython, through pyo3, linked against the
//! system's libpython.
//!
//! * [`thread`]: one Python thread state per OS thread, kept.
//! * [`view`]: memoryviews over nbdkit's buffers, released after the call.
//! * [`module`]: the `nbdkit` module built from the plugin's [`ModuleSpec`].
//! * [`values`]: the [`Attached`] primitives on pyo3 values.
//! * [`exception`]: exceptions rendered as tracebacks.
//!
//! [`ModuleSpec`]: nbdkit_plugin::backend::ModuleSpec
//! [`Attached`]: nbdkit_plugin::backend::Attached

mod exception;
mod interpreter;
mod module;
mod thread;
mod values;
mod view;

pub use interpreter::CPython;
