//! Logging through nbdkit. Messages are passed as a `%s` argument, so a
//! `%` in a message is printed, never interpreted.

use std::ffi::CString;

/// A C string of `s`, with any interior NUL shown as `\0` rather than
/// silently truncating the message.
pub(crate) fn cstring_lossy(s: &str) -> CString {
    CString::new(s).unwrap_or_else(|_| {
        CString::new(s.replace('\0', "\\0")).expect("no NUL left after replacing them")
    })
}

/// `nbdkit_debug`: shown with `nbdkit -v`.
pub fn debug(message: &str) {
    let message = cstring_lossy(message);
    // SAFETY: "%s" with one NUL-terminated string argument that lives
    // through the call matches nbdkit_debug's printf contract.
    unsafe { nbdkit_sys::nbdkit_debug(c"%s".as_ptr(), message.as_ptr()) }
}

/// `nbdkit_error`: always shown, prefixed by nbdkit with the plugin name.
pub fn error(message: &str) {
    let message = cstring_lossy(message);
    // SAFETY: as in `debug`.
    unsafe { nbdkit_sys::nbdkit_error(c"%s".as_ptr(), message.as_ptr()) }
}
