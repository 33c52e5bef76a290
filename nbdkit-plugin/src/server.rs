//! Safe wrappers of nbdkit's server functions.

use std::ffi::{CStr, CString};
use std::os::raw::c_char;

use nbdkit_sys as sys;

use crate::log::cstring_lossy;
use crate::{Error, Result};

/// Record `errno` as the reason the current callback fails.
pub fn set_error(errno: i32) {
    // SAFETY: nbdkit_set_error only stores an int in nbdkit's
    // thread-local request state; any value is accepted.
    unsafe { sys::nbdkit_set_error(errno) }
}

/// The export name the client asked for, as raw bytes (the NBD
/// protocol says UTF-8, but a client may send anything).
/// `None` outside a connection.
pub fn export_name() -> Option<Vec<u8>> {
    // SAFETY: no arguments; the result is NULL or a NUL-terminated string
    // owned by nbdkit that stays valid for the connection.
    let p = unsafe { sys::nbdkit_export_name() };
    if p.is_null() {
        return None;
    }
    // SAFETY: p is non-NULL and NUL-terminated (see above); copied at once.
    Some(unsafe { CStr::from_ptr(p) }.to_bytes().to_vec())
}

/// Whether the current connection uses TLS.
pub fn is_tls() -> bool {
    // SAFETY: no arguments; returns 0 or 1 (or -1 outside a connection).
    unsafe { sys::nbdkit_is_tls() > 0 }
}

/// Ask nbdkit to shut down, asynchronously.
pub fn shutdown() {
    // SAFETY: no arguments; safe to call from any thread at any time.
    unsafe { sys::nbdkit_shutdown() }
}

/// Whether the plugin may use stdin/stdout (false under `nbdkit -s`).
pub fn stdio_safe() -> bool {
    // SAFETY: no arguments; reads a flag of the server.
    unsafe { sys::nbdkit_stdio_safe() != 0 }
}

/// `nbdkit_parse_size`: "1M" → 1048576. On failure nbdkit has already
/// logged why; `None` is returned.
pub fn parse_size(s: &str) -> Option<i64> {
    let s = CString::new(s).ok()?;
    // SAFETY: s is NUL-terminated and outlives the call.
    let r = unsafe { sys::nbdkit_parse_size(s.as_ptr()) };
    (r >= 0).then_some(r)
}

/// `nbdkit_parse_bool`: "on", "yes", "1", ... On failure nbdkit has
/// already logged why; `None` is returned.
pub fn parse_bool(s: &str) -> Option<bool> {
    let s = CString::new(s).ok()?;
    // SAFETY: s is NUL-terminated and outlives the call.
    match unsafe { sys::nbdkit_parse_bool(s.as_ptr()) } {
        -1 => None,
        r => Some(r != 0),
    }
}

/// A copy of `s` that nbdkit owns and frees when the current
/// connection (or, outside one, the server) ends: what callbacks that
/// return `const char *` must hand back.
pub fn intern(s: &str) -> Result<*const c_char> {
    let s = cstring_lossy(s);
    // SAFETY: s is NUL-terminated and outlives the call; nbdkit copies it.
    let p = unsafe { sys::nbdkit_strdup_intern(s.as_ptr()) };
    if p.is_null() {
        return Err(Error::silent(libc::ENOMEM));
    }
    Ok(p)
}

/// The list that nbdkit passes to `.extents`.
pub struct Extents {
    raw: *mut sys::nbdkit_extents,
}

impl Extents {
    /// # Safety
    /// `raw` is the list nbdkit passed to the current `.extents` call.
    pub unsafe fn from_raw(raw: *mut sys::nbdkit_extents) -> Self {
        Extents { raw }
    }

    /// Append one extent. nbdkit checks ordering and range, logs what
    /// is wrong and fails the request.
    pub fn add(&mut self, offset: u64, length: u64, kind: u32) -> Result<()> {
        // SAFETY: self.raw is valid for the duration of the callback
        // (from_raw's contract) and &mut self prevents concurrent use.
        match unsafe { sys::nbdkit_add_extent(self.raw, offset, length, kind) } {
            -1 => Err(Error::silent(last_errno())),
            _ => Ok(()),
        }
    }
}

/// The list that nbdkit passes to `.list_exports`.
pub struct Exports {
    raw: *mut sys::nbdkit_exports,
}

impl Exports {
    /// # Safety
    /// `raw` is the list nbdkit passed to the current `.list_exports` call.
    pub unsafe fn from_raw(raw: *mut sys::nbdkit_exports) -> Self {
        Exports { raw }
    }

    /// Advertise one export; nbdkit rejects names longer than NBD allows.
    pub fn add(&mut self, name: &[u8], description: Option<&[u8]>) -> Result<()> {
        let name = CString::new(name)
            .map_err(|_| Error::new(libc::EINVAL, "export name contains a NUL byte"))?;
        let description = description
            .map(CString::new)
            .transpose()
            .map_err(|_| Error::new(libc::EINVAL, "export description contains a NUL byte"))?;
        let desc_ptr = description.as_ref().map_or(std::ptr::null(), |d| d.as_ptr());
        // SAFETY: self.raw is valid during the callback (from_raw's
        // contract); both strings are NUL-terminated (or NULL for no
        // description) and nbdkit copies them.
        match unsafe { sys::nbdkit_add_export(self.raw, name.as_ptr(), desc_ptr) } {
            -1 => Err(Error::silent(last_errno())),
            _ => Ok(()),
        }
    }

    /// What nbdkit does when a plugin has no `.list_exports`: advertise
    /// the default export.
    pub fn use_default(&mut self) -> Result<()> {
        // SAFETY: self.raw is valid during the callback.
        match unsafe { sys::nbdkit_use_default_export(self.raw) } {
            -1 => Err(Error::silent(last_errno())),
            _ => Ok(()),
        }
    }
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().filter(|&e| e != 0).unwrap_or(libc::EIO)
}
