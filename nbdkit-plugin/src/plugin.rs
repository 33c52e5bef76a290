//! The [`Plugin`] trait and [`register`], which turns an implementation
//! into the `struct nbdkit_plugin` that `plugin_init` returns.
//!
//! Every default method does what nbdkit itself does when a C plugin
//! leaves that callback NULL, so an implementation only overrides what
//! it has. All callbacks are registered (nbdkit's `--dump-plugin` shows
//! `has_X=1` for each), because a scripting plugin only learns which
//! callbacks its script defines after nbdkit has copied the struct.

use std::ffi::{c_void, CStr};
use std::os::raw::{c_char, c_int};
use std::sync::OnceLock;

use nbdkit_sys as sys;

use crate::trampoline::enter;
use crate::{server, Error, Exports, Extents, Result};

/// `NBDKIT_THREAD_MODEL_*`.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadModel {
    SerializeConnections = sys::NBDKIT_THREAD_MODEL_SERIALIZE_CONNECTIONS,
    SerializeAllRequests = sys::NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS,
    SerializeRequests = sys::NBDKIT_THREAD_MODEL_SERIALIZE_REQUESTS,
    Parallel = sys::NBDKIT_THREAD_MODEL_PARALLEL,
}

/// The static description of a plugin, read once by [`register`].
#[derive(Debug, Clone, Default)]
pub struct PluginInfo {
    pub name: String,
    pub longname: Option<String>,
    pub version: Option<String>,
    pub description: Option<String>,
    pub config_help: Option<String>,
    pub magic_config_key: Option<String>,
    /// The most parallel model the plugin can ever allow; `.thread_model`
    /// may restrict it further at run time.
    pub max_thread_model: Option<ThreadModel>,
}

/// An nbdkit plugin. nbdkit's callbacks carry no user data, so the
/// plugin is a single `'static` instance returned by [`Plugin::get`].
///
/// Handles are boxed by the framework: `open` returns a value, `close`
/// gets it back by value, every other callback borrows it.
#[allow(unused_variables)]
pub trait Plugin: Sync + Sized + 'static {
    type Handle: Send + Sync + 'static;

    /// The one instance.
    fn get() -> &'static Self;

    /// Called once from `plugin_init`, before nbdkit copies the struct.
    fn info() -> PluginInfo;

    /// After `dlopen`, before anything else.
    fn load(&self) {}
    /// Before `dlclose`; also on error exits.
    fn unload(&self) {}
    /// `--dump-plugin`: print `key=value` lines to stdout.
    fn dump_plugin(&self) {}

    /// A `key=value` from the command line. nbdkit's default refuses any.
    fn config(&self, key: &str, value: &str) -> Result<()> {
        Err(Error::eio(format!("{key}: this plugin does not need command line configuration")))
    }
    fn config_complete(&self) -> Result<()> {
        Ok(())
    }
    /// The thread model; default: the most parallel one registered.
    fn thread_model(&self) -> Result<i32> {
        Ok(Self::info().max_thread_model.unwrap_or(ThreadModel::Parallel) as i32)
    }
    fn get_ready(&self) -> Result<()> {
        Ok(())
    }
    fn after_fork(&self) -> Result<()> {
        Ok(())
    }
    /// Before nbdkit exits, after the last connection.
    fn cleanup(&self) {}

    /// Default: advertise only the default export.
    fn list_exports(&self, readonly: bool, is_tls: bool, exports: &mut Exports) -> Result<()> {
        exports.use_default()
    }
    /// The canonical name of the export "" ; default: "".
    fn default_export(&self, readonly: bool, is_tls: bool) -> Result<String> {
        Ok(String::new())
    }
    fn preconnect(&self, readonly: bool) -> Result<()> {
        Ok(())
    }

    fn open(&self, readonly: bool) -> Result<Self::Handle>;
    fn close(&self, handle: Self::Handle) {}

    /// Default: no description.
    fn export_description(&self, h: &Self::Handle) -> Result<Option<String>> {
        Ok(None)
    }
    fn get_size(&self, h: &Self::Handle) -> Result<i64>;
    /// (minimum, preferred, maximum); default all 0, meaning "no constraint".
    fn block_size(&self, h: &Self::Handle) -> Result<(u32, u32, u32)> {
        Ok((0, 0, 0))
    }

    /// Default false: a plugin without `.pwrite` is read-only.
    fn can_write(&self, h: &Self::Handle) -> Result<bool> {
        Ok(false)
    }
    fn can_flush(&self, h: &Self::Handle) -> Result<bool> {
        Ok(false)
    }
    fn is_rotational(&self, h: &Self::Handle) -> Result<bool> {
        Ok(false)
    }
    fn can_trim(&self, h: &Self::Handle) -> Result<bool> {
        Ok(false)
    }
    /// Default false: nbdkit then emulates zeroing with `.pwrite`.
    fn can_zero(&self, h: &Self::Handle) -> Result<bool> {
        Ok(false)
    }
    fn can_fast_zero(&self, h: &Self::Handle) -> Result<bool> {
        Ok(false)
    }
    fn can_extents(&self, h: &Self::Handle) -> Result<bool> {
        Ok(false)
    }
    /// `NBDKIT_FUA_*`; default none.
    fn can_fua(&self, h: &Self::Handle) -> Result<i32> {
        Ok(sys::NBDKIT_FUA_NONE)
    }
    fn can_multi_conn(&self, h: &Self::Handle) -> Result<bool> {
        Ok(false)
    }
    /// `NBDKIT_CACHE_*`; default none.
    fn can_cache(&self, h: &Self::Handle) -> Result<i32> {
        Ok(sys::NBDKIT_CACHE_NONE)
    }

    fn pread(&self, h: &Self::Handle, buf: &mut [u8], offset: u64, flags: u32) -> Result<()>;
    fn pwrite(&self, h: &Self::Handle, buf: &[u8], offset: u64, flags: u32) -> Result<()> {
        Err(Error::eio("pwrite not implemented"))
    }
    fn flush(&self, h: &Self::Handle, flags: u32) -> Result<()> {
        Err(Error::eio("flush not implemented"))
    }
    fn trim(&self, h: &Self::Handle, count: u32, offset: u64, flags: u32) -> Result<()> {
        Err(Error::eio("trim not implemented"))
    }
    /// Default: EOPNOTSUPP, which makes nbdkit fall back to `.pwrite`.
    fn zero(&self, h: &Self::Handle, count: u32, offset: u64, flags: u32) -> Result<()> {
        Err(Error::silent(libc::EOPNOTSUPP))
    }
    fn cache(&self, h: &Self::Handle, count: u32, offset: u64, flags: u32) -> Result<()> {
        Err(Error::eio("cache not implemented"))
    }
    /// Default: the whole range is allocated data.
    fn extents(&self, h: &Self::Handle, count: u32, offset: u64, flags: u32, extents: &mut Extents) -> Result<()> {
        extents.add(offset, count.into(), 0)
    }
}

/// Build `P`'s `struct nbdkit_plugin`, for `plugin_init` to return.
///
/// nbdkit copies the struct as soon as `plugin_init` returns; the strings
/// it points to are kept alive for the life of the process.
pub fn register<P: Plugin>() -> *const sys::nbdkit_plugin {
    struct Registered(sys::nbdkit_plugin);
    // SAFETY: the struct holds pointers to leaked, immutable C strings and
    // function pointers; nothing in it is ever mutated after creation.
    unsafe impl Send for Registered {}
    // SAFETY: as above.
    unsafe impl Sync for Registered {}
    static PLUGIN: OnceLock<Registered> = OnceLock::new();

    let registered = PLUGIN.get_or_init(|| {
        let info = P::info();
        let mut p = sys::nbdkit_plugin::empty();
        p._thread_model = info.max_thread_model.unwrap_or(ThreadModel::Parallel) as c_int;
        p.name = leak(Some(info.name.as_str()));
        p.longname = leak(info.longname.as_deref());
        p.version = leak(info.version.as_deref());
        p.description = leak(info.description.as_deref());
        p.config_help = leak(info.config_help.as_deref());
        p.magic_config_key = leak(info.magic_config_key.as_deref());
        install::<P>(&mut p);
        Registered(p)
    });
    &registered.0
}

fn leak(s: Option<&str>) -> *const c_char {
    match s {
        Some(s) => crate::log::cstring_lossy(s).into_raw(),
        None => std::ptr::null(),
    }
}

fn install<P: Plugin>(p: &mut sys::nbdkit_plugin) {
    p.load = Some(cb::load::<P>);
    p.unload = Some(cb::unload::<P>);
    p.dump_plugin = Some(cb::dump_plugin::<P>);
    p.config = Some(cb::config::<P>);
    p.config_complete = Some(cb::config_complete::<P>);
    p.thread_model = Some(cb::thread_model::<P>);
    p.get_ready = Some(cb::get_ready::<P>);
    p.after_fork = Some(cb::after_fork::<P>);
    p.cleanup = Some(cb::cleanup::<P>);
    p.list_exports = Some(cb::list_exports::<P>);
    p.default_export = Some(cb::default_export::<P>);
    p.preconnect = Some(cb::preconnect::<P>);
    p.open = Some(cb::open::<P>);
    p.close = Some(cb::close::<P>);
    p.export_description = Some(cb::export_description::<P>);
    p.get_size = Some(cb::get_size::<P>);
    p.block_size = Some(cb::block_size::<P>);
    p.can_write = Some(cb::can_write::<P>);
    p.can_flush = Some(cb::can_flush::<P>);
    p.is_rotational = Some(cb::is_rotational::<P>);
    p.can_trim = Some(cb::can_trim::<P>);
    p.can_zero = Some(cb::can_zero::<P>);
    p.can_fast_zero = Some(cb::can_fast_zero::<P>);
    p.can_extents = Some(cb::can_extents::<P>);
    p.can_fua = Some(cb::can_fua::<P>);
    p.can_multi_conn = Some(cb::can_multi_conn::<P>);
    p.can_cache = Some(cb::can_cache::<P>);
    p.pread = Some(cb::pread::<P>);
    p.pwrite = Some(cb::pwrite::<P>);
    p.flush = Some(cb::flush::<P>);
    p.trim = Some(cb::trim::<P>);
    p.zero = Some(cb::zero::<P>);
    p.cache = Some(cb::cache::<P>);
    p.extents = Some(cb::extents::<P>);
}

/// # Safety
/// `h` was returned by [`cb::open`] for `P` and not yet closed; nbdkit
/// guarantees this for every callback that takes a handle.
unsafe fn handle<'a, P: Plugin>(h: *mut c_void) -> &'a P::Handle {
    // SAFETY: per the function contract, h is a live Box<P::Handle>.
    unsafe { &*(h as *const P::Handle) }
}

/// # Safety
/// `s` is a NUL-terminated string valid for the call.
unsafe fn text<'a>(s: *const c_char) -> Result<&'a str> {
    // SAFETY: per the function contract.
    unsafe { CStr::from_ptr(s) }
        .to_str()
        .map_err(|_| Error::new(libc::EINVAL, "command line parameter is not valid UTF-8"))
}

fn bool_int(r: Result<bool>) -> Result<c_int> {
    r.map(c_int::from)
}

/// The `extern "C"` entry points, one per callback, each a thin shim
/// that converts arguments and goes through [`enter`].
mod cb {
    use super::*;

    pub unsafe extern "C" fn load<P: Plugin>() {
        enter("load", (), || {
            P::get().load();
            Ok(())
        })
    }

    pub unsafe extern "C" fn unload<P: Plugin>() {
        enter("unload", (), || {
            P::get().unload();
            Ok(())
        })
    }

    pub unsafe extern "C" fn dump_plugin<P: Plugin>() {
        enter("dump_plugin", (), || {
            P::get().dump_plugin();
            Ok(())
        })
    }

    pub unsafe extern "C" fn config<P: Plugin>(key: *const c_char, value: *const c_char) -> c_int {
        enter("config", -1, || {
            // SAFETY: nbdkit passes two NUL-terminated strings.
            let (key, value) = unsafe { (text(key)?, text(value)?) };
            P::get().config(key, value).map(|()| 0)
        })
    }

    pub unsafe extern "C" fn config_complete<P: Plugin>() -> c_int {
        enter("config_complete", -1, || P::get().config_complete().map(|()| 0))
    }

    pub unsafe extern "C" fn thread_model<P: Plugin>() -> c_int {
        enter("thread_model", -1, || P::get().thread_model())
    }

    pub unsafe extern "C" fn get_ready<P: Plugin>() -> c_int {
        enter("get_ready", -1, || P::get().get_ready().map(|()| 0))
    }

    pub unsafe extern "C" fn after_fork<P: Plugin>() -> c_int {
        enter("after_fork", -1, || P::get().after_fork().map(|()| 0))
    }

    pub unsafe extern "C" fn cleanup<P: Plugin>() {
        enter("cleanup", (), || {
            P::get().cleanup();
            Ok(())
        })
    }

    pub unsafe extern "C" fn list_exports<P: Plugin>(
        readonly: c_int,
        is_tls: c_int,
        exports: *mut sys::nbdkit_exports,
    ) -> c_int {
        enter("list_exports", -1, || {
            // SAFETY: nbdkit passes the list for this call.
            let mut exports = unsafe { Exports::from_raw(exports) };
            P::get().list_exports(readonly != 0, is_tls != 0, &mut exports).map(|()| 0)
        })
    }

    pub unsafe extern "C" fn default_export<P: Plugin>(readonly: c_int, is_tls: c_int) -> *const c_char {
        enter("default_export", std::ptr::null(), || {
            server::intern(&P::get().default_export(readonly != 0, is_tls != 0)?)
        })
    }

    pub unsafe extern "C" fn preconnect<P: Plugin>(readonly: c_int) -> c_int {
        enter("preconnect", -1, || P::get().preconnect(readonly != 0).map(|()| 0))
    }

    pub unsafe extern "C" fn open<P: Plugin>(readonly: c_int) -> *mut c_void {
        enter("open", std::ptr::null_mut(), || {
            let h = P::get().open(readonly != 0)?;
            Ok(Box::into_raw(Box::new(h)) as *mut c_void)
        })
    }

    pub unsafe extern "C" fn close<P: Plugin>(h: *mut c_void) {
        enter("close", (), || {
            // SAFETY: nbdkit calls close once per handle from open, last.
            let h = unsafe { Box::from_raw(h as *mut P::Handle) };
            P::get().close(*h);
            Ok(())
        })
    }

    pub unsafe extern "C" fn export_description<P: Plugin>(h: *mut c_void) -> *const c_char {
        enter("export_description", std::ptr::null(), || {
            // SAFETY: h is a live handle (nbdkit's contract).
            match P::get().export_description(unsafe { handle::<P>(h) })? {
                Some(d) => server::intern(&d),
                None => Ok(std::ptr::null()),
            }
        })
    }

    pub unsafe extern "C" fn get_size<P: Plugin>(h: *mut c_void) -> i64 {
        // SAFETY: h is a live handle (nbdkit's contract).
        enter("get_size", -1, || P::get().get_size(unsafe { handle::<P>(h) }))
    }

    pub unsafe extern "C" fn block_size<P: Plugin>(
        h: *mut c_void,
        minimum: *mut u32,
        preferred: *mut u32,
        maximum: *mut u32,
    ) -> c_int {
        enter("block_size", -1, || {
            // SAFETY: h is a live handle (nbdkit's contract).
            let (min, pref, max) = P::get().block_size(unsafe { handle::<P>(h) })?;
            // SAFETY: nbdkit passes three valid out-pointers.
            unsafe {
                *minimum = min;
                *preferred = pref;
                *maximum = max;
            }
            Ok(0)
        })
    }

    macro_rules! flag_callbacks {
        ($($name:ident => $conv:expr),* $(,)?) => {$(
            pub unsafe extern "C" fn $name<P: Plugin>(h: *mut c_void) -> c_int {
                enter(stringify!($name), -1, || {
                    // SAFETY: h is a live handle (nbdkit's contract).
                    $conv(P::get().$name(unsafe { handle::<P>(h) }))
                })
            }
        )*};
    }

    flag_callbacks! {
        can_write => bool_int,
        can_flush => bool_int,
        is_rotational => bool_int,
        can_trim => bool_int,
        can_zero => bool_int,
        can_fast_zero => bool_int,
        can_extents => bool_int,
        can_multi_conn => bool_int,
        can_fua => std::convert::identity,
        can_cache => std::convert::identity,
    }

    pub unsafe extern "C" fn pread<P: Plugin>(
        h: *mut c_void,
        buf: *mut c_void,
        count: u32,
        offset: u64,
        flags: u32,
    ) -> c_int {
        enter("pread", -1, || {
            // SAFETY: nbdkit passes a writable buffer of `count` bytes,
            // exclusively ours for the duration of the call.
            let buf = unsafe { std::slice::from_raw_parts_mut(buf as *mut u8, count as usize) };
            // SAFETY: h is a live handle (nbdkit's contract).
            P::get().pread(unsafe { handle::<P>(h) }, buf, offset, flags).map(|()| 0)
        })
    }

    pub unsafe extern "C" fn pwrite<P: Plugin>(
        h: *mut c_void,
        buf: *const c_void,
        count: u32,
        offset: u64,
        flags: u32,
    ) -> c_int {
        enter("pwrite", -1, || {
            // SAFETY: nbdkit passes a readable buffer of `count` bytes
            // that stays valid and unmodified for the call.
            let buf = unsafe { std::slice::from_raw_parts(buf as *const u8, count as usize) };
            // SAFETY: h is a live handle (nbdkit's contract).
            P::get().pwrite(unsafe { handle::<P>(h) }, buf, offset, flags).map(|()| 0)
        })
    }

    pub unsafe extern "C" fn flush<P: Plugin>(h: *mut c_void, flags: u32) -> c_int {
        // SAFETY: h is a live handle (nbdkit's contract).
        enter("flush", -1, || P::get().flush(unsafe { handle::<P>(h) }, flags).map(|()| 0))
    }

    macro_rules! range_callbacks {
        ($($name:ident),*) => {$(
            pub unsafe extern "C" fn $name<P: Plugin>(h: *mut c_void, count: u32, offset: u64, flags: u32) -> c_int {
                enter(stringify!($name), -1, || {
                    // SAFETY: h is a live handle (nbdkit's contract).
                    P::get().$name(unsafe { handle::<P>(h) }, count, offset, flags).map(|()| 0)
                })
            }
        )*};
    }

    range_callbacks!(trim, zero, cache);

    pub unsafe extern "C" fn extents<P: Plugin>(
        h: *mut c_void,
        count: u32,
        offset: u64,
        flags: u32,
        extents: *mut sys::nbdkit_extents,
    ) -> c_int {
        enter("extents", -1, || {
            // SAFETY: nbdkit passes the list for this call.
            let mut extents = unsafe { Extents::from_raw(extents) };
            // SAFETY: h is a live handle (nbdkit's contract).
            P::get().extents(unsafe { handle::<P>(h) }, count, offset, flags, &mut extents).map(|()| 0)
        })
    }
}

