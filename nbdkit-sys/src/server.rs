//! The server functions of `<nbdkit-common.h>` that nbdkit 1.32 exports.
//!
//! Functions added after 1.32 (`nbdkit_disconnect`, `nbdkit_parse_probability`,
//! `nbdkit_peer_tls_dn`, ...) are deliberately absent: nbdkit loads plugins
//! with `RTLD_NOW`, so a reference to a symbol the running nbdkit lacks
//! would stop the plugin from loading. Resolve those with `dlsym`.

use std::os::raw::{c_char, c_int, c_uint};

use crate::{nbdkit_exports, nbdkit_extents};

extern "C" {
    pub fn nbdkit_error(fmt: *const c_char, ...);
    pub fn nbdkit_debug(fmt: *const c_char, ...);

    pub fn nbdkit_set_error(err: c_int);
    pub fn nbdkit_export_name() -> *const c_char;
    pub fn nbdkit_is_tls() -> c_int;
    pub fn nbdkit_shutdown();

    pub fn nbdkit_absolute_path(path: *const c_char) -> *mut c_char;
    pub fn nbdkit_realpath(path: *const c_char) -> *mut c_char;
    pub fn nbdkit_parse_size(str: *const c_char) -> i64;
    pub fn nbdkit_parse_bool(str: *const c_char) -> c_int;
    pub fn nbdkit_stdio_safe() -> c_int;
    pub fn nbdkit_read_password(value: *const c_char, password: *mut *mut c_char) -> c_int;
    pub fn nbdkit_nanosleep(sec: c_uint, nsec: c_uint) -> c_int;
    pub fn nbdkit_peer_pid() -> i64;
    pub fn nbdkit_peer_uid() -> i64;
    pub fn nbdkit_peer_gid() -> i64;

    pub fn nbdkit_strdup_intern(str: *const c_char) -> *const c_char;
    pub fn nbdkit_strndup_intern(str: *const c_char, n: usize) -> *const c_char;

    pub fn nbdkit_add_extent(
        extents: *mut nbdkit_extents,
        offset: u64,
        length: u64,
        type_: u32,
    ) -> c_int;

    pub fn nbdkit_add_export(
        exports: *mut nbdkit_exports,
        name: *const c_char,
        description: *const c_char,
    ) -> c_int;
    pub fn nbdkit_use_default_export(exports: *mut nbdkit_exports) -> c_int;
}
