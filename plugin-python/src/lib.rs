//! nbdkit's Python plugin, as the cdylib that nbdkit loads.
//!
//! The plugin's semantics (callback names, API versions 1 and 2,
//! defaults for missing callbacks, errors, the `nbdkit` module) are
//! written once in [`plugin`], generic over the interpreter; [`backend`]
//! picks the interpreter at build time.

mod backend;
mod callbacks;
mod cmdline;
pub mod convert;
mod errors;
mod module;
mod plugin;

use nbdkit_plugin::register;

/// The entry point nbdkit looks up after `dlopen`.
///
/// # Safety
/// Called by nbdkit, once, on the main thread.
#[no_mangle]
pub extern "C" fn plugin_init() -> *const nbdkit_sys::nbdkit_plugin {
    // A panic here must not unwind into nbdkit: NULL makes it refuse
    // the plugin with a message.
    std::panic::catch_unwind(register::<plugin::PythonPlugin<backend::Selected>>).unwrap_or(std::ptr::null())
}
