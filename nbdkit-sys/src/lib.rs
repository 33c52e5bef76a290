//! Raw FFI of `<nbdkit-plugin.h>` and `<nbdkit-common.h>` at
//! `NBDKIT_API_VERSION 2`, as shipped by nbdkit 1.32.
//!
//! Declarations only: no logic lives here. The safe layer is the
//! `nbdkit-plugin` crate.
//!
//! # Safety rules, stated once
//! * Every function here is implemented by the nbdkit *executable* that
//!   `dlopen`s the plugin; the symbols resolve at load time. nbdkit loads
//!   plugins with `RTLD_NOW`, so only functions that nbdkit 1.32 exports
//!   are declared. Newer ones must be looked up with `dlsym` at run time.
//! * Strings passed in are NUL-terminated and must outlive the call;
//!   strings returned by nbdkit are owned by nbdkit unless the
//!   function's documentation says the caller frees them.
//! * `nbdkit_debug` and `nbdkit_error` take a printf format: always pass
//!   `"%s"` and the message as the argument, never a message as the format.
#![allow(non_camel_case_types)]

mod plugin;
mod server;

pub use plugin::*;
pub use server::*;
