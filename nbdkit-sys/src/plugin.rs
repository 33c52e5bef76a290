//! `struct nbdkit_plugin` and the constants of `<nbdkit-common.h>`.

use std::os::raw::{c_char, c_int, c_void};

/// The API version this crate mirrors (`NBDKIT_API_VERSION`).
pub const NBDKIT_API_VERSION: c_int = 2;

pub const NBDKIT_THREAD_MODEL_SERIALIZE_CONNECTIONS: c_int = 0;
pub const NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS: c_int = 1;
pub const NBDKIT_THREAD_MODEL_SERIALIZE_REQUESTS: c_int = 2;
pub const NBDKIT_THREAD_MODEL_PARALLEL: c_int = 3;

pub const NBDKIT_FLAG_MAY_TRIM: u32 = 1 << 0;
pub const NBDKIT_FLAG_FUA: u32 = 1 << 1;
pub const NBDKIT_FLAG_REQ_ONE: u32 = 1 << 2;
pub const NBDKIT_FLAG_FAST_ZERO: u32 = 1 << 3;

pub const NBDKIT_FUA_NONE: c_int = 0;
pub const NBDKIT_FUA_EMULATE: c_int = 1;
pub const NBDKIT_FUA_NATIVE: c_int = 2;

pub const NBDKIT_CACHE_NONE: c_int = 0;
pub const NBDKIT_CACHE_EMULATE: c_int = 1;
pub const NBDKIT_CACHE_NATIVE: c_int = 2;

pub const NBDKIT_EXTENT_HOLE: u32 = 1 << 0;
pub const NBDKIT_EXTENT_ZERO: u32 = 1 << 1;

/// Opaque list that `.extents` fills with `nbdkit_add_extent`.
#[repr(C)]
pub struct nbdkit_extents {
    _private: [u8; 0],
}

/// Opaque list that `.list_exports` fills with `nbdkit_add_export`.
#[repr(C)]
pub struct nbdkit_exports {
    _private: [u8; 0],
}

pub type Handle = *mut c_void;

/// `struct nbdkit_plugin` exactly as `<nbdkit-plugin.h>` lays it out with
/// `NBDKIT_API_VERSION == 2`. New fields are only ever appended by nbdkit.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct nbdkit_plugin {
    pub _struct_size: u64,
    pub _api_version: c_int,
    pub _thread_model: c_int,

    pub name: *const c_char,
    pub longname: *const c_char,
    pub version: *const c_char,
    pub description: *const c_char,

    pub load: Option<unsafe extern "C" fn()>,
    pub unload: Option<unsafe extern "C" fn()>,

    pub config: Option<unsafe extern "C" fn(key: *const c_char, value: *const c_char) -> c_int>,
    pub config_complete: Option<unsafe extern "C" fn() -> c_int>,
    pub config_help: *const c_char,

    pub open: Option<unsafe extern "C" fn(readonly: c_int) -> Handle>,
    pub close: Option<unsafe extern "C" fn(h: Handle)>,

    pub get_size: Option<unsafe extern "C" fn(h: Handle) -> i64>,
    pub can_write: Option<unsafe extern "C" fn(h: Handle) -> c_int>,
    pub can_flush: Option<unsafe extern "C" fn(h: Handle) -> c_int>,
    pub is_rotational: Option<unsafe extern "C" fn(h: Handle) -> c_int>,
    pub can_trim: Option<unsafe extern "C" fn(h: Handle) -> c_int>,

    // The API version 1 data callbacks; unused at version 2.
    pub _pread_v1: Option<unsafe extern "C" fn(Handle, *mut c_void, u32, u64) -> c_int>,
    pub _pwrite_v1: Option<unsafe extern "C" fn(Handle, *const c_void, u32, u64) -> c_int>,
    pub _flush_v1: Option<unsafe extern "C" fn(Handle) -> c_int>,
    pub _trim_v1: Option<unsafe extern "C" fn(Handle, u32, u64) -> c_int>,
    pub _zero_v1: Option<unsafe extern "C" fn(Handle, u32, u64, c_int) -> c_int>,

    pub errno_is_preserved: c_int,

    pub dump_plugin: Option<unsafe extern "C" fn()>,

    pub can_zero: Option<unsafe extern "C" fn(h: Handle) -> c_int>,
    pub can_fua: Option<unsafe extern "C" fn(h: Handle) -> c_int>,

    pub pread: Option<
        unsafe extern "C" fn(h: Handle, buf: *mut c_void, count: u32, offset: u64, flags: u32) -> c_int,
    >,
    pub pwrite: Option<
        unsafe extern "C" fn(h: Handle, buf: *const c_void, count: u32, offset: u64, flags: u32) -> c_int,
    >,
    pub flush: Option<unsafe extern "C" fn(h: Handle, flags: u32) -> c_int>,
    pub trim: Option<unsafe extern "C" fn(h: Handle, count: u32, offset: u64, flags: u32) -> c_int>,
    pub zero: Option<unsafe extern "C" fn(h: Handle, count: u32, offset: u64, flags: u32) -> c_int>,

    pub magic_config_key: *const c_char,

    pub can_multi_conn: Option<unsafe extern "C" fn(h: Handle) -> c_int>,

    pub can_extents: Option<unsafe extern "C" fn(h: Handle) -> c_int>,
    pub extents: Option<
        unsafe extern "C" fn(
            h: Handle,
            count: u32,
            offset: u64,
            flags: u32,
            extents: *mut nbdkit_extents,
        ) -> c_int,
    >,

    pub can_cache: Option<unsafe extern "C" fn(h: Handle) -> c_int>,
    pub cache: Option<unsafe extern "C" fn(h: Handle, count: u32, offset: u64, flags: u32) -> c_int>,

    pub thread_model: Option<unsafe extern "C" fn() -> c_int>,

    pub can_fast_zero: Option<unsafe extern "C" fn(h: Handle) -> c_int>,

    pub preconnect: Option<unsafe extern "C" fn(readonly: c_int) -> c_int>,

    pub get_ready: Option<unsafe extern "C" fn() -> c_int>,
    pub after_fork: Option<unsafe extern "C" fn() -> c_int>,

    pub list_exports: Option<
        unsafe extern "C" fn(readonly: c_int, is_tls: c_int, exports: *mut nbdkit_exports) -> c_int,
    >,
    pub default_export: Option<unsafe extern "C" fn(readonly: c_int, is_tls: c_int) -> *const c_char>,
    pub export_description: Option<unsafe extern "C" fn(h: Handle) -> *const c_char>,

    pub cleanup: Option<unsafe extern "C" fn()>,

    pub block_size: Option<
        unsafe extern "C" fn(h: Handle, minimum: *mut u32, preferred: *mut u32, maximum: *mut u32) -> c_int,
    >,
}

impl nbdkit_plugin {
    /// A plugin struct with every field empty, as a C designated
    /// initialiser leaves it. `_struct_size` and `_api_version` are set.
    pub const fn empty() -> Self {
        nbdkit_plugin {
            _struct_size: std::mem::size_of::<nbdkit_plugin>() as u64,
            _api_version: NBDKIT_API_VERSION,
            _thread_model: NBDKIT_THREAD_MODEL_PARALLEL,
            name: std::ptr::null(),
            longname: std::ptr::null(),
            version: std::ptr::null(),
            description: std::ptr::null(),
            load: None,
            unload: None,
            config: None,
            config_complete: None,
            config_help: std::ptr::null(),
            open: None,
            close: None,
            get_size: None,
            can_write: None,
            can_flush: None,
            is_rotational: None,
            can_trim: None,
            _pread_v1: None,
            _pwrite_v1: None,
            _flush_v1: None,
            _trim_v1: None,
            _zero_v1: None,
            errno_is_preserved: 0,
            dump_plugin: None,
            can_zero: None,
            can_fua: None,
            pread: None,
            pwrite: None,
            flush: None,
            trim: None,
            zero: None,
            magic_config_key: std::ptr::null(),
            can_multi_conn: None,
            can_extents: None,
            extents: None,
            can_cache: None,
            cache: None,
            thread_model: None,
            can_fast_zero: None,
            preconnect: None,
            get_ready: None,
            after_fork: None,
            list_exports: None,
            default_export: None,
            export_description: None,
            cleanup: None,
            block_size: None,
        }
    }
}

// nbdkit 1.32.5 reports `struct_size=384` for its own python plugin:
// the layout above must match it byte for byte.
const _: () = assert!(std::mem::size_of::<nbdkit_plugin>() == 384);
