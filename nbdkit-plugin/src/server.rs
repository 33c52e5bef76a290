//! Safe wrappers of nbdkit's server functions.

use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int};

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

/// Why a server function could not give an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerError {
    /// The running nbdkit is older than the function: the text names it
    /// and the release that added it.
    Unavailable(String),
    /// nbdkit refused (it has logged why, where it logs).
    Failed(String),
}

/// Take ownership of a `malloc`ed C string from nbdkit.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string allocated with `malloc` that
/// the caller must free.
unsafe fn owned_c_string(p: *mut c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: per the function contract; copied, then freed once.
    let s = unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
    // SAFETY: p came from malloc (function contract) and is not used again.
    unsafe { libc::free(p.cast()) };
    Some(s)
}

/// Drop the current client (`force`: at once, without a clean reply).
pub fn disconnect(force: bool) -> Result<(), ServerError> {
    let f = crate::newer::DISCONNECT.address().ok_or_else(|| unavailable(&crate::newer::DISCONNECT))?;
    // SAFETY: the symbol has the documented type `void (int)`.
    let f: unsafe extern "C" fn(c_int) = unsafe { std::mem::transmute(f) };
    // SAFETY: any int is a valid argument.
    unsafe { f(c_int::from(force)) };
    Ok(())
}

fn unavailable(f: &crate::newer::Newer) -> ServerError {
    ServerError::Unavailable(format!("this nbdkit lacks {}", f.describe()))
}

/// `nbdkit_parse_probability`, or our own parser on an older nbdkit.
pub fn parse_probability(what: &str, s: &str) -> Result<f64, ServerError> {
    let failed = || ServerError::Failed(format!("{what}: could not parse probability: {s}"));
    let Some(f) = crate::newer::PARSE_PROBABILITY.address() else {
        return crate::parse::probability(s).ok_or_else(failed);
    };
    let (cwhat, cs) = (cstring_lossy(what), CString::new(s).map_err(|_| failed())?);
    // SAFETY: documented type `int (const char *, const char *, double *)`.
    let f: unsafe extern "C" fn(*const c_char, *const c_char, *mut f64) -> c_int = unsafe { std::mem::transmute(f) };
    let mut r = 0.0;
    // SAFETY: two C strings that outlive the call and a valid out-pointer.
    match unsafe { f(cwhat.as_ptr(), cs.as_ptr(), &mut r) } {
        -1 => Err(failed()),
        _ => Ok(r),
    }
}

/// `nbdkit_parse_delay`, or our own parser on an older nbdkit.
pub fn parse_delay(what: &str, s: &str) -> Result<(u32, u32), ServerError> {
    let failed = || ServerError::Failed(format!("{what}: could not parse delay: {s}"));
    let Some(f) = crate::newer::PARSE_DELAY.address() else {
        return crate::parse::delay(s).ok_or_else(failed);
    };
    let (cwhat, cs) = (cstring_lossy(what), CString::new(s).map_err(|_| failed())?);
    type ParseDelay = unsafe extern "C" fn(*const c_char, *const c_char, *mut u32, *mut u32) -> c_int;
    // SAFETY: documented type `int (const char *, const char *, unsigned *, unsigned *)`.
    let f: ParseDelay = unsafe { std::mem::transmute(f) };
    let (mut sec, mut nsec) = (0u32, 0u32);
    // SAFETY: two C strings that outlive the call and valid out-pointers.
    match unsafe { f(cwhat.as_ptr(), cs.as_ptr(), &mut sec, &mut nsec) } {
        -1 => Err(failed()),
        _ => Ok((sec, nsec)),
    }
}

/// A string-returning newer function (`char *f (void)`, caller frees).
fn newer_string(f: &'static crate::newer::Newer) -> Result<String, ServerError> {
    let addr = f.address().ok_or_else(|| unavailable(f))?;
    // SAFETY: these functions have the documented type `char * (void)`.
    let call: unsafe extern "C" fn() -> *mut c_char = unsafe { std::mem::transmute(addr) };
    // SAFETY: no arguments; the result is NULL on error or malloc'd.
    let p = unsafe { call() };
    // SAFETY: as documented for these functions.
    unsafe { owned_c_string(p) }.ok_or_else(|| ServerError::Failed(format!("{} failed", f.name.to_string_lossy())))
}

/// The client's security context (SELinux label), over a Unix socket.
pub fn peer_security_context() -> Result<String, ServerError> {
    newer_string(&crate::newer::PEER_SECURITY_CONTEXT)
}

/// The client certificate's Distinguished Name, "" if none.
pub fn peer_tls_dn() -> Result<String, ServerError> {
    newer_string(&crate::newer::PEER_TLS_DN)
}

/// The client certificate issuer's Distinguished Name, "" if none.
pub fn peer_tls_issuer_dn() -> Result<String, ServerError> {
    newer_string(&crate::newer::PEER_TLS_ISSUER_DN)
}

/// Sleep, waking early (with an error) if nbdkit is shutting down or the
/// client went away.
pub fn nanosleep(sec: u32, nsec: u32) -> Result<(), ServerError> {
    // SAFETY: any values are accepted; nbdkit validates them.
    match unsafe { sys::nbdkit_nanosleep(sec, nsec) } {
        -1 => Err(ServerError::Failed("nanosleep interrupted".into())),
        _ => Ok(()),
    }
}

/// The client's process ID, user ID or group ID (Unix sockets only).
pub fn peer_credential(which: PeerCredential) -> Result<i64, ServerError> {
    // SAFETY: no arguments; each returns -1 (after logging) on error.
    let r = unsafe {
        match which {
            PeerCredential::Pid => sys::nbdkit_peer_pid(),
            PeerCredential::Uid => sys::nbdkit_peer_uid(),
            PeerCredential::Gid => sys::nbdkit_peer_gid(),
        }
    };
    if r < 0 {
        return Err(ServerError::Failed(format!("nbdkit_peer_{which:?} failed").to_lowercase()));
    }
    Ok(r)
}

#[derive(Debug, Clone, Copy)]
pub enum PeerCredential {
    Pid,
    Uid,
    Gid,
}

/// `nbdkit_read_password`: `-` asks on the terminal, `+FILE` reads a
/// file, `-FD` reads a file descriptor, anything else is the password.
pub fn read_password(value: &str) -> Result<String, ServerError> {
    let v = CString::new(value).map_err(|_| ServerError::Failed("password contains a NUL byte".into()))?;
    let mut p: *mut c_char = std::ptr::null_mut();
    // SAFETY: a C string and a valid out-pointer; on success *p is malloc'd.
    if unsafe { sys::nbdkit_read_password(v.as_ptr(), &mut p) } == -1 {
        return Err(ServerError::Failed("could not read the password".into()));
    }
    // SAFETY: nbdkit_read_password returns a malloc'd string the caller frees.
    unsafe { owned_c_string(p) }.ok_or_else(|| ServerError::Failed("could not read the password".into()))
}
