//! [`ScriptBackend`] on RustPython: the interpreter is pure Rust
//! (rustpython-vm), its standard library frozen into the plugin; no
//! libpython is loaded.
//!
//! * [`interpreter`]: start, run the script, look up and call functions.
//! * [`thread`]: one VM handle per OS thread, kept; the attach point.
//! * [`object`]: values kept across calls, released on an attached thread.
//! * [`view`]: memoryviews over nbdkit's buffers, taken back after the
//!   call; [`lent`]: the object that exports the memory; [`sweep`]:
//!   finding the views a script kept.
//! * [`fastcopy`]: slice assignment between a lent view and a
//!   `bytearray` or `bytes` as one copy.
//! * [`freelists`]: RustPython's per-thread free lists, emptied before a
//!   thread ends.
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

mod exception;
mod fastcopy;
mod freelists;
mod interpreter;
mod lent;
mod module;
mod object;
mod posix;
mod sweep;
mod thread;
mod values;
mod view;

pub use interpreter::RustPython;
pub use object::Kept;
