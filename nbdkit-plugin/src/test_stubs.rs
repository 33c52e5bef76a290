//! Stand-ins for the `nbdkit_*` symbols that the nbdkit executable
//! provides, so that unit tests link and can see what was reported.
//!
//! Only with the `test-stubs` feature, which nothing but tests enables:
//! in a real plugin these symbols must come from nbdkit.
//!
//! `nbdkit_error` and `nbdkit_debug` are variadic in C; stable Rust cannot
//! define a variadic function, so they are defined with the one `%s`
//! argument the framework always passes. On the SysV x86-64 and AArch64
//! ABIs a variadic call with one pointer argument passes it exactly as a
//! non-variadic call does.
#![allow(clippy::missing_safety_doc)]

use std::cell::RefCell;
use std::ffi::CStr;
use std::os::raw::{c_char, c_int};

/// What the code under test reported on this thread.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub errors: Vec<String>,
    pub debug: Vec<String>,
    pub last_errno: i32,
    pub extents: Vec<(u64, u64, u32)>,
    pub exports: Vec<(String, Option<String>)>,
}

thread_local! {
    static SEEN: RefCell<Seen> = RefCell::new(Seen::default());
}

pub fn reset() {
    SEEN.with(|s| *s.borrow_mut() = Seen::default());
}

pub fn take() -> Seen {
    SEEN.with(|s| std::mem::take(&mut *s.borrow_mut()))
}

/// # Safety
/// `p` is NULL or a NUL-terminated string.
unsafe fn text(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: the caller passes a NUL-terminated string.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_error(_fmt: *const c_char, msg: *const c_char) {
    // SAFETY: the framework always calls with "%s" and a C string.
    let m = unsafe { text(msg) };
    SEEN.with(|s| s.borrow_mut().errors.push(m));
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_debug(_fmt: *const c_char, msg: *const c_char) {
    // SAFETY: as for nbdkit_error.
    let m = unsafe { text(msg) };
    SEEN.with(|s| s.borrow_mut().debug.push(m));
}

#[no_mangle]
pub extern "C" fn nbdkit_set_error(err: c_int) {
    SEEN.with(|s| s.borrow_mut().last_errno = err);
}

#[no_mangle]
pub extern "C" fn nbdkit_add_extent(_e: *mut nbdkit_sys::nbdkit_extents, offset: u64, length: u64, kind: u32) -> c_int {
    SEEN.with(|s| s.borrow_mut().extents.push((offset, length, kind)));
    0
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_add_export(
    _e: *mut nbdkit_sys::nbdkit_exports,
    name: *const c_char,
    desc: *const c_char,
) -> c_int {
    // SAFETY: the framework passes C strings (or NULL for no description).
    let (n, d) = unsafe { (text(name), (!desc.is_null()).then(|| text(desc))) };
    SEEN.with(|s| s.borrow_mut().exports.push((n, d)));
    0
}

#[no_mangle]
pub extern "C" fn nbdkit_use_default_export(_e: *mut nbdkit_sys::nbdkit_exports) -> c_int {
    SEEN.with(|s| s.borrow_mut().exports.push((String::new(), None)));
    0
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_strdup_intern(s: *const c_char) -> *const c_char {
    // SAFETY: a C string in; leaked on purpose, as nbdkit would keep it.
    unsafe { libc::strdup(s) }
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_parse_size(s: *const c_char) -> i64 {
    // SAFETY: a C string in.
    let t = unsafe { text(s) };
    let (num, mul) = match t.chars().last() {
        Some('K') => (&t[..t.len() - 1], 1 << 10),
        Some('M') => (&t[..t.len() - 1], 1 << 20),
        Some('G') => (&t[..t.len() - 1], 1 << 30),
        _ => (&t[..], 1),
    };
    num.parse::<i64>().map(|n| n * mul).unwrap_or(-1)
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_parse_bool(s: *const c_char) -> c_int {
    // SAFETY: a C string in.
    match unsafe { text(s) }.as_str() {
        "1" | "true" | "yes" | "on" => 1,
        "0" | "false" | "no" | "off" => 0,
        _ => -1,
    }
}

#[no_mangle]
pub extern "C" fn nbdkit_export_name() -> *const c_char {
    c"".as_ptr()
}

#[no_mangle]
pub extern "C" fn nbdkit_is_tls() -> c_int {
    0
}

#[no_mangle]
pub extern "C" fn nbdkit_shutdown() {}

#[no_mangle]
pub extern "C" fn nbdkit_stdio_safe() -> c_int {
    1
}
