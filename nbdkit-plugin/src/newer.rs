//! Server functions that nbdkit added after 1.32, looked up at run time.
//!
//! nbdkit loads plugins with `RTLD_NOW`: a link-time reference to a
//! function the running nbdkit lacks would stop the plugin from loading.
//! So these are found with `dlsym` on first use (the nbdkit executable's
//! symbols are global), and a caller learns cleanly when one is missing.

use std::ffi::{c_void, CStr};
use std::sync::OnceLock;

/// A server function that may or may not exist in the running nbdkit.
pub(crate) struct Newer {
    pub name: &'static CStr,
    /// The nbdkit release that added it, for error messages.
    pub since: &'static str,
    addr: OnceLock<usize>,
}

impl Newer {
    pub const fn new(name: &'static CStr, since: &'static str) -> Self {
        Newer { name, since, addr: OnceLock::new() }
    }

    /// The function's address, or `None` when this nbdkit lacks it.
    pub fn address(&self) -> Option<*mut c_void> {
        let addr = *self.addr.get_or_init(|| {
            // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only
            // reads the loaded objects' symbol tables.
            unsafe { libc::dlsym(libc::RTLD_DEFAULT, self.name.as_ptr()) as usize }
        });
        (addr != 0).then_some(addr as *mut c_void)
    }

    /// "nbdkit_disconnect (added in nbdkit 1.34)".
    pub fn describe(&self) -> String {
        format!("{} (added in nbdkit {})", self.name.to_string_lossy(), self.since)
    }
}

pub(crate) static DISCONNECT: Newer = Newer::new(c"nbdkit_disconnect", "1.34");
pub(crate) static PARSE_PROBABILITY: Newer = Newer::new(c"nbdkit_parse_probability", "1.36");
pub(crate) static PARSE_DELAY: Newer = Newer::new(c"nbdkit_parse_delay", "1.40");
pub(crate) static PEER_SECURITY_CONTEXT: Newer = Newer::new(c"nbdkit_peer_security_context", "1.36");
pub(crate) static PEER_TLS_DN: Newer = Newer::new(c"nbdkit_peer_tls_dn", "1.42");
pub(crate) static PEER_TLS_ISSUER_DN: Newer = Newer::new(c"nbdkit_peer_tls_issuer_dn", "1.42");
