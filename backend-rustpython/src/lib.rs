//! [`ScriptBackend`] on RustPython: the interpreter is pure Rust
//! (rustpython-vm), its standard library frozen into the plugin; no
//! libpython is loaded.
//!
//! * [`interpreter`]: start, run the script, look up and call functions.
//! * [`thread`]: one VM handle per OS thread, kept; the attach point.
//! * [`object`]: values kept across calls, released on an attached thread.
//! * [`buffer`]: memoryviews over nbdkit's buffers, released after the call.
//! * [`module`]: the `nbdkit` module built from the plugin's [`ModuleSpec`].
//! * [`values`]: the [`Attached`] primitives on RustPython values.
//! * [`exception`]: exceptions rendered as tracebacks.
//! * [`posix`]: the `os` functions disk plugins use that RustPython lacks.
//!
//! There is no global interpreter lock: threads that nbdkit runs in
//! parallel run Python in parallel.
//!
//! [`ScriptBackend`]: nbdkit_plugin::backend::ScriptBackend
//! [`ModuleSpec`]: nbdkit_plugin::backend::ModuleSpec
//! [`Attached`]: nbdkit_plugin::backend::Attached

mod buffer;
mod exception;
mod interpreter;
mod module;
mod object;
mod posix;
mod thread;
mod values;

pub use interpreter::RustPython;
pub use object::Kept;
