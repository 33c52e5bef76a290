//! The Python plugin's semantics, once, for every interpreter: what each
//! nbdkit callback calls in the script, with which arguments for API
//! versions 1 and 2, and what nbdkit's own Python plugin does when the
//! script leaves a callback out.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI8, Ordering};
use std::sync::OnceLock;

use nbdkit_plugin::backend::{lent, Arg, Convert, Global, Ignore, MainScript, ScriptBackend, ScriptError, StartOptions};
use nbdkit_plugin::{log, Error, Exports, Extents, Plugin, PluginInfo, Result, ThreadModel};
use nbdkit_sys as sys;

use crate::callbacks::{Callbacks, Cb};
use crate::cmdline;
use crate::convert::{self, BlockSize, CopyInto, Flag, Int, Text};
use crate::errors;
use crate::module::MODULE;

const CONFIG_HELP: &str = "script=<FILENAME>     (required) The Python plugin to run.\n\
                           [other arguments may be used by the plugin that you load]";

/// The longest export name or description NBD carries, in bytes.
const NBD_MAX_STRING: usize = 4096;

/// The highest `API_VERSION` a script may declare.
const MAX_API_VERSION: i64 = 2;

/// The one plugin instance, reachable from nbdkit's data-less callbacks.
pub trait Instance {
    fn instance() -> &'static Self;
}

pub struct PythonPlugin<B: ScriptBackend> {
    interp: OnceLock<Result<B, String>>,
    script: OnceLock<Script<B::Object>>,
    /// The script found on the command line while `plugin_init` ran, and
    /// how loading it then went (see `cmdline.rs`).
    early: OnceLock<(String, Result<()>)>,
    /// Whether nbdkit has passed the first parameter (the script).
    script_param_seen: AtomicBool,
}

/// The loaded script.
struct Script<O> {
    /// As given on the command line: the name in every message.
    path: String,
    api: Api,
    callbacks: Callbacks<O>,
    /// The script's own `magic_config_key`, if it sets one.
    magic_config_key: Option<String>,
}

/// The argument shapes of the data callbacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    /// No `API_VERSION`: the 2014 API, `pread(h, count, offset)` returns
    /// the data.
    V1,
    /// `API_VERSION = 2`: `pread(h, buf, offset, flags)` fills `buf`.
    V2,
}

/// A connection: the script's handle and what it said about zeroing
/// (asked once, as nbdkit's own plugin does).
pub struct Handle<O> {
    obj: O,
    can_zero: AtomicI8,
}

impl<B: ScriptBackend> PythonPlugin<B> {
    pub const fn new() -> Self {
        PythonPlugin {
            interp: OnceLock::new(),
            script: OnceLock::new(),
            early: OnceLock::new(),
            script_param_seen: AtomicBool::new(false),
        }
    }

    /// Start the interpreter, once.
    fn start(&self) -> Result<&B> {
        self.interp.get_or_init(|| {
            let options = StartOptions { module: &MODULE, bootstrap: include_str!("bootstrap.py") };
            B::start(options).map_err(|e| e.render().to_string())
        });
        self.interp()
    }

    fn interp(&self) -> Result<&B> {
        match self.interp.get() {
            Some(Ok(i)) => Ok(i),
            Some(Err(e)) => Err(Error::eio(format!("the Python interpreter failed to start: {e}"))),
            None => Err(Error::eio("the Python interpreter was not started")),
        }
    }

    fn script(&self) -> Result<&Script<B::Object>> {
        self.script.get().ok_or_else(|| Error::eio("the first parameter must be script=/path/to/python/script.py"))
    }

    /// Call `cb` if the script defines it: `Ok(None)` if it does not.
    fn call<C: Convert>(&self, cb: Cb, args: &mut [Arg<'_, B::Object>], convert: C) -> Result<Option<C::Output>> {
        let script = self.script()?;
        self.call_raw(script, cb, args, convert).map_err(|e| errors::from_script(&script.path, cb.name(), &e))
    }

    fn call_raw<C: Convert>(
        &self,
        script: &Script<B::Object>,
        cb: Cb,
        args: &mut [Arg<'_, B::Object>],
        convert: C,
    ) -> Result<Option<C::Output>, ScriptError> {
        let Some(f) = script.callbacks.get(cb) else { return Ok(None) };
        errors::clear_errno();
        let interp = self.interp().map_err(|e| ScriptError::Invalid(e.to_string()))?;
        let r = interp.call(f, args, convert).map(Some);
        if lent::take_kept() {
            log::error(&format!(
                "{}: {}: the script kept the buffer after the call returned; it has been released \
                 (using it now raises ValueError; a raw pointer taken from it, e.g. by ctypes, is dangling)",
                script.path,
                cb.name()
            ));
        }
        r
    }

    fn has(&self, cb: Cb) -> Result<bool> {
        Ok(self.script()?.callbacks.has(cb))
    }

    /// A callback that must exist because nbdkit requires it; the check
    /// at load time makes a miss here an internal error.
    fn required<C: Convert>(&self, cb: Cb, args: &mut [Arg<'_, B::Object>], convert: C) -> Result<C::Output> {
        self.call(cb, args, convert)?
            .ok_or_else(|| Error::eio(format!("{}: missing callback: {}", self.script().map_or("", |s| &s.path), cb.name())))
    }

    /// A plugin-level complaint about what `cb` returned.
    fn invalid(&self, cb: Cb, message: String) -> Error {
        let path = self.script().map_or("", |s| s.path.as_str());
        errors::from_script(path, cb.name(), &ScriptError::Invalid(message))
    }

    /// A boolean callback; when the script lacks it, whether it has
    /// `implied_by` (`can_write` from `pwrite`, ...), as nbdkit does for
    /// C plugins.
    fn flag(&self, h: &Handle<B::Object>, cb: Cb, implied_by: Option<Cb>) -> Result<bool> {
        match self.call(cb, &mut [Arg::Object(&h.obj)], Flag(cb.name()))? {
            Some(b) => Ok(b),
            None => implied_by.map_or(Ok(false), |plain| self.has(plain)),
        }
    }

    /// An enumerated answer (thread model, FUA or cache level): `0..=max`.
    /// nbdkit would take -1 as a silent failure and other values as its own
    /// error without naming the script, so check here.
    fn one_of(&self, cb: Cb, v: i64, max: i32, names: &str) -> Result<i32> {
        // Above `max` nbdkit clamps (as for the reference); a negative
        // value would reach nbdkit as its silent error return.
        match i32::try_from(v) {
            Ok(v) if v >= 0 => Ok(v),
            _ => Err(self.invalid(cb, format!("{} returned {v}, which is not one of {names} (0 to {max})", cb.name()))),
        }
    }

    /// A name or description handed to nbdkit: UTF-8 (what NBD requires)
    /// and no NUL byte (which would cut it short in C).
    fn nbd_string(&self, cb: Cb, what: &str, bytes: Vec<u8>) -> Result<String> {
        if bytes.len() > NBD_MAX_STRING {
            return Err(self.invalid(
                cb,
                format!("{} returned {what} of {} bytes, longer than NBD allows ({NBD_MAX_STRING})", cb.name(), bytes.len()),
            ));
        }
        if bytes.contains(&0) {
            return Err(self.invalid(cb, format!("{} returned {what} containing a NUL byte", cb.name())));
        }
        String::from_utf8(bytes).map_err(|_| self.invalid(cb, format!("{} returned {what} that is not valid UTF-8", cb.name())))
    }

    /// Load the script from `plugin_init`, so that its metadata can fill
    /// the plugin struct. A failure is kept and reported when nbdkit
    /// passes the script parameter, where it would have happened anyway.
    fn load_early(&self, path: String, info: &mut PluginInfo) {
        let loaded = self.start().and_then(|_| self.load_script(&path));
        if loaded.is_ok() {
            self.apply_metadata(info);
        }
        let _ = self.early.set((path, loaded));
    }

    /// The script's module-level `version`, `longname`, `description`,
    /// `config_help` (a string, or a function returning one) and
    /// `magic_config_key`, where nbdkit shows a plugin's own.
    fn apply_metadata(&self, info: &mut PluginInfo) {
        let (Ok(interp), Ok(script)) = (self.interp(), self.script()) else { return };
        let text = |name: &'static str| match interp.global(name, Text(name)) {
            Some(Ok(bytes)) => Some(String::from_utf8_lossy(&bytes).into_owned()),
            Some(Err(e)) => {
                log::debug(&format!("{}: ignoring {name}: {}", script.path, e.render()));
                None
            }
            None => None,
        };
        info.version = text("version").or(info.version.take());
        info.longname = text("longname");
        info.description = text("description");
        let help = match interp.callable("config_help") {
            Global::Callable(f) => match interp.call(&f, &mut [], Text("config_help")) {
                Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
                Err(e) => {
                    log::debug(&format!("{}: config_help: {}", script.path, e.render()));
                    None
                }
            },
            _ => text("config_help"),
        };
        info.config_help = help.or(info.config_help.take());
        if let Some(key) = &script.magic_config_key {
            info.magic_config_key = Some(key.clone());
        }
    }

    /// The first parameter: the script, as `script=FILE`, or as a bare
    /// `FILE` mapped to the magic config key (ours, or the script's).
    fn script_param(&self, key: &str, value: &str) -> Result<()> {
        if let Some((path, loaded)) = self.early.get() {
            if path == value {
                let magic = self.script.get().and_then(|s| s.magic_config_key.as_deref());
                return match loaded {
                    Ok(()) if key == "script" || Some(key) == magic => Ok(()),
                    Ok(()) => Err(Error::eio("the first parameter must be script=/path/to/python/script.py")),
                    Err(e) => Err(e.clone()),
                };
            }
        }
        if key != "script" {
            return Err(Error::eio("the first parameter must be script=/path/to/python/script.py"));
        }
        self.start()?;
        self.load_script(value)?;
        // Found only now (not while plugin_init ran): `load` is due.
        self.lifecycle(Cb::Load)
    }

    fn load_script(&self, path: &str) -> Result<()> {
        let interp = self.interp()?;
        let source = std::fs::read(path).map_err(|e| {
            Error::new(e.raw_os_error().unwrap_or(libc::EIO), format!("{path}: cannot open file: {e}"))
        })?;
        // The script's own directory goes first on sys.path, absolute,
        // because nbdkit changes directory when it daemonizes.
        let dir = Path::new(path).parent().map(|d| if d.as_os_str().is_empty() { Path::new(".") } else { d });
        let dir = dir.and_then(|d| std::fs::canonicalize(d).ok());
        let argv = [path.to_string()];
        interp
            .run_main(&MainScript { source: &source, path, argv: &argv, search_dir: dir.as_deref() })
            .map_err(|e| Error::eio(format!("{path}: error running this script:\n{}", e.render())))?;

        let callbacks = Callbacks::lookup(interp);
        if ![Cb::Open, Cb::GetSize, Cb::Pread].iter().all(|&cb| callbacks.has(cb)) {
            return Err(Error::eio(format!(
                "{path}: one of the required callbacks 'open', 'get_size' or 'pread' is not defined by this \
                 Python script.  nbdkit requires these callbacks."
            )));
        }
        let api = match interp.global("API_VERSION", Int) {
            None => 1,
            Some(Ok(v)) => v,
            Some(Err(e)) => {
                return Err(Error::eio(format!("{path}: API_VERSION is not an integer: {}", e.render())));
            }
        };
        let api = match api {
            1 => Api::V1,
            2 => Api::V2,
            v => {
                return Err(Error::eio(format!(
                    "{path}: API_VERSION requested unknown version: {v}.  \
                     This plugin supports API versions between 1 and {MAX_API_VERSION}."
                )))
            }
        };
        log::debug(&format!("module requested API_VERSION {}", if api == Api::V1 { 1 } else { 2 }));
        let magic_config_key = match interp.global("magic_config_key", Text("magic_config_key")) {
            Some(Ok(key)) => Some(String::from_utf8_lossy(&key).into_owned()),
            _ => None,
        };
        self.script
            .set(Script { path: path.to_string(), api, callbacks, magic_config_key })
            .map_err(|_| Error::eio("the script is already loaded"))
    }

    /// Run a lifecycle callback that takes no arguments.
    fn lifecycle(&self, cb: Cb) -> Result<()> {
        if self.script.get().is_none() {
            return Ok(());
        }
        self.call(cb, &mut [], Ignore).map(drop)
    }
}

impl<B: ScriptBackend> Plugin for PythonPlugin<B>
where
    PythonPlugin<B>: Instance,
{
    type Handle = Handle<B::Object>;

    fn get() -> &'static Self {
        Self::instance()
    }

    fn info() -> PluginInfo {
        let mut info = PluginInfo {
            name: "python".into(),
            version: Some(env!("CARGO_PKG_VERSION").into()),
            config_help: Some(CONFIG_HELP.into()),
            magic_config_key: Some("script".into()),
            max_thread_model: Some(ThreadModel::Parallel),
            ..PluginInfo::default()
        };
        if let Some(path) = cmdline::find_script(&cmdline::process_args()) {
            Self::get().load_early(path, &mut info);
        }
        info
    }

    fn load(&self) {
        if let Err(e) = self.start() {
            e.report();
        }
        if self.script.get().is_some() {
            if let Err(e) = self.lifecycle(Cb::Load) {
                e.report();
            }
        }
    }

    fn unload(&self) {
        if let Err(e) = self.lifecycle(Cb::Unload) {
            e.report();
        }
        if let Some(Ok(interp)) = self.interp.get() {
            interp.finalize();
        }
    }

    fn dump_plugin(&self) {
        let Ok(interp) = self.interp() else { return };
        let imp = interp.implementation();
        print_line(&format!("python_version={}", imp.version));
        for (k, v) in &imp.extra {
            print_line(&format!("{k}={v}"));
        }
        print_line(&format!("nbdkit_python_maximum_api_version={MAX_API_VERSION}"));
        print_line(&format!("python_implementation={}", imp.name));
        if self.script.get().is_some() {
            // SAFETY: flushing all C streams is always allowed; it puts
            // nbdkit's lines and ours before whatever the script prints.
            unsafe { libc::fflush(std::ptr::null_mut()) };
            if let Err(e) = self.call(Cb::DumpPlugin, &mut [], Ignore) {
                e.report();
            }
            interp.flush_stdout();
        }
    }

    fn config(&self, key: &str, value: &str) -> Result<()> {
        if !self.script_param_seen.swap(true, Ordering::Relaxed) {
            return self.script_param(key, value);
        }
        let script = self.script()?;
        match self.call(Cb::Config, &mut [Arg::Str(key), Arg::Str(value)], Ignore)? {
            Some(()) => Ok(()),
            None => Err(Error::eio(format!("{}: this plugin does not need command line configuration", script.path))),
        }
    }

    fn config_complete(&self) -> Result<()> {
        self.script()?;
        self.lifecycle(Cb::ConfigComplete)
    }

    fn thread_model(&self) -> Result<i32> {
        let default = sys::NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS;
        if self.script.get().is_none() {
            return Ok(default);
        }
        match self.call(Cb::ThreadModel, &mut [], Int)? {
            None => Ok(default),
            Some(m) => self.one_of(Cb::ThreadModel, m, sys::NBDKIT_THREAD_MODEL_PARALLEL, "nbdkit.THREAD_MODEL_*"),
        }
    }

    fn get_ready(&self) -> Result<()> {
        self.lifecycle(Cb::GetReady)
    }

    fn after_fork(&self) -> Result<()> {
        self.interp()?.after_fork_in_child();
        self.lifecycle(Cb::AfterFork)
    }

    fn cleanup(&self) {
        if let Err(e) = self.lifecycle(Cb::Cleanup) {
            e.report();
        }
    }

    fn list_exports(&self, readonly: bool, is_tls: bool, exports: &mut Exports) -> Result<()> {
        match self.call(Cb::ListExports, &mut [Arg::Bool(readonly), Arg::Bool(is_tls)], convert::Exports)? {
            None => exports.use_default(),
            Some(list) => list.into_iter().try_for_each(|(name, desc)| {
                let name = self.nbd_string(Cb::ListExports, "an export name", name)?;
                let desc = desc.map(|d| self.nbd_string(Cb::ListExports, "a description", d)).transpose()?;
                exports.add(name.as_bytes(), desc.as_deref().map(str::as_bytes)).map_err(|e| {
                    self.invalid(Cb::ListExports, format!("nbdkit refused the export {name:?} (see its message above)"))
                        .with_errno_of(&e)
                })
            }),
        }
    }

    fn default_export(&self, readonly: bool, is_tls: bool) -> Result<String> {
        let name = Text(Cb::DefaultExport.name());
        match self.call(Cb::DefaultExport, &mut [Arg::Bool(readonly), Arg::Bool(is_tls)], name)? {
            None => Ok(String::new()),
            Some(bytes) => self.nbd_string(Cb::DefaultExport, "an export name", bytes),
        }
    }

    fn preconnect(&self, readonly: bool) -> Result<()> {
        self.call(Cb::Preconnect, &mut [Arg::Bool(readonly)], Ignore).map(drop)
    }

    fn open(&self, readonly: bool) -> Result<Self::Handle> {
        let script = self.script()?;
        let f = script.callbacks.get(Cb::Open).ok_or_else(|| Error::eio(format!("{}: missing callback: open", script.path)))?;
        errors::clear_errno();
        let obj = self
            .interp()?
            .call_keep(f, &mut [Arg::Bool(readonly)])
            .map_err(|e| errors::from_script(&script.path, "open", &e))?;
        Ok(Handle { obj, can_zero: AtomicI8::new(-1) })
    }

    fn close(&self, h: Self::Handle) {
        if let Err(e) = self.call(Cb::Close, &mut [Arg::Object(&h.obj)], Ignore) {
            e.report();
        }
        if let Ok(interp) = self.interp() {
            interp.release(h.obj);
        }
    }

    fn export_description(&self, h: &Self::Handle) -> Result<Option<String>> {
        let text = Text(Cb::ExportDescription.name());
        match self.call(Cb::ExportDescription, &mut [Arg::Object(&h.obj)], text)? {
            None => Ok(None),
            Some(bytes) => self.nbd_string(Cb::ExportDescription, "a description", bytes).map(Some),
        }
    }

    fn get_size(&self, h: &Self::Handle) -> Result<i64> {
        let size = self.required(Cb::GetSize, &mut [Arg::Object(&h.obj)], Int)?;
        if size < 0 {
            return Err(self.invalid(Cb::GetSize, format!("get_size returned a negative size: {size}")));
        }
        Ok(size)
    }

    /// nbdkit checks the sizes after the callback returns, in its own words;
    /// the same rules are checked here so that the message names the script.
    fn block_size(&self, h: &Self::Handle) -> Result<(u32, u32, u32)> {
        let Some(sizes) = self.call(Cb::BlockSize, &mut [Arg::Object(&h.obj)], BlockSize)? else {
            return Ok((0, 0, 0));
        };
        convert::check_block_size(sizes).map_err(|m| self.invalid(Cb::BlockSize, m))?;
        Ok(sizes)
    }

    fn can_write(&self, h: &Self::Handle) -> Result<bool> {
        self.flag(h, Cb::CanWrite, Some(Cb::Pwrite))
    }

    fn can_flush(&self, h: &Self::Handle) -> Result<bool> {
        self.flag(h, Cb::CanFlush, Some(Cb::Flush))
    }

    fn is_rotational(&self, h: &Self::Handle) -> Result<bool> {
        self.flag(h, Cb::IsRotational, None)
    }

    fn can_trim(&self, h: &Self::Handle) -> Result<bool> {
        self.flag(h, Cb::CanTrim, Some(Cb::Trim))
    }

    fn can_zero(&self, h: &Self::Handle) -> Result<bool> {
        match h.can_zero.load(Ordering::Relaxed) {
            -1 => {
                let r = self.flag(h, Cb::CanZero, Some(Cb::Zero))?;
                h.can_zero.store(r.into(), Ordering::Relaxed);
                Ok(r)
            }
            known => Ok(known != 0),
        }
    }

    /// Without `can_fast_zero`, fast zeroes are advertised exactly when
    /// zeroing is not supported: then failing fast is trivially fast.
    fn can_fast_zero(&self, h: &Self::Handle) -> Result<bool> {
        if self.has(Cb::CanFastZero)? {
            return self.flag(h, Cb::CanFastZero, None);
        }
        Ok(!self.can_zero(h)?)
    }

    fn can_extents(&self, h: &Self::Handle) -> Result<bool> {
        self.flag(h, Cb::CanExtents, Some(Cb::Extents))
    }

    fn can_fua(&self, h: &Self::Handle) -> Result<i32> {
        match self.call(Cb::CanFua, &mut [Arg::Object(&h.obj)], Int)? {
            Some(v) => self.one_of(Cb::CanFua, v, sys::NBDKIT_FUA_NATIVE, "nbdkit.FUA_NONE, FUA_EMULATE or FUA_NATIVE"),
            None if self.has(Cb::Flush)? => Ok(sys::NBDKIT_FUA_EMULATE),
            None => Ok(sys::NBDKIT_FUA_NONE),
        }
    }

    fn can_multi_conn(&self, h: &Self::Handle) -> Result<bool> {
        self.flag(h, Cb::CanMultiConn, None)
    }

    fn can_cache(&self, h: &Self::Handle) -> Result<i32> {
        match self.call(Cb::CanCache, &mut [Arg::Object(&h.obj)], Int)? {
            Some(v) => self.one_of(Cb::CanCache, v, sys::NBDKIT_CACHE_NATIVE, "nbdkit.CACHE_NONE, CACHE_EMULATE or CACHE_NATIVE"),
            None if self.has(Cb::Cache)? => Ok(sys::NBDKIT_CACHE_NATIVE),
            None => Ok(sys::NBDKIT_CACHE_NONE),
        }
    }

    fn pread(&self, h: &Self::Handle, buf: &mut [u8], offset: u64, flags: u32) -> Result<()> {
        let offset = offset as i64;
        match self.script()?.api {
            Api::V1 => {
                let count = buf.len() as i64;
                self.required(Cb::Pread, &mut [Arg::Object(&h.obj), Arg::Int(count), Arg::Int(offset)], CopyInto(buf))
            }
            Api::V2 => {
                let args = &mut [Arg::Object(&h.obj), Arg::BytesMut(buf), Arg::Int(offset), Arg::Int(flags.into())];
                self.required(Cb::Pread, args, Ignore)
            }
        }
    }

    fn pwrite(&self, h: &Self::Handle, buf: &[u8], offset: u64, flags: u32) -> Result<()> {
        let (offset, flags) = (offset as i64, flags.into());
        let r = match self.script()?.api {
            Api::V1 => self.call(Cb::Pwrite, &mut [Arg::Object(&h.obj), Arg::Bytes(buf), Arg::Int(offset)], Ignore),
            Api::V2 => {
                let args = &mut [Arg::Object(&h.obj), Arg::Bytes(buf), Arg::Int(offset), Arg::Int(flags)];
                self.call(Cb::Pwrite, args, Ignore)
            }
        };
        r?.ok_or_else(|| self.not_implemented(Cb::Pwrite))
    }

    fn flush(&self, h: &Self::Handle, flags: u32) -> Result<()> {
        let r = match self.script()?.api {
            Api::V1 => self.call(Cb::Flush, &mut [Arg::Object(&h.obj)], Ignore),
            Api::V2 => self.call(Cb::Flush, &mut [Arg::Object(&h.obj), Arg::Int(flags.into())], Ignore),
        };
        r?.ok_or_else(|| self.not_implemented(Cb::Flush))
    }

    fn trim(&self, h: &Self::Handle, count: u32, offset: u64, flags: u32) -> Result<()> {
        let (count, offset, flags) = (count.into(), offset as i64, flags.into());
        let r = match self.script()?.api {
            Api::V1 => self.call(Cb::Trim, &mut [Arg::Object(&h.obj), Arg::Int(count), Arg::Int(offset)], Ignore),
            Api::V2 => {
                let args = &mut [Arg::Object(&h.obj), Arg::Int(count), Arg::Int(offset), Arg::Int(flags)];
                self.call(Cb::Trim, args, Ignore)
            }
        };
        r?.ok_or_else(|| self.not_implemented(Cb::Trim))
    }

    /// A script that has no `zero`, or that calls
    /// `nbdkit.set_error(errno.EOPNOTSUPP)` in it, makes nbdkit fall back
    /// to writing zeroes with `pwrite`.
    fn zero(&self, h: &Self::Handle, count: u32, offset: u64, flags: u32) -> Result<()> {
        let script = self.script()?;
        let (count, offset) = (count.into(), offset as i64);
        let may_trim = flags & sys::NBDKIT_FLAG_MAY_TRIM != 0;
        let r = match script.api {
            Api::V1 => {
                let args = &mut [Arg::Object(&h.obj), Arg::Int(count), Arg::Int(offset), Arg::Bool(may_trim)];
                self.call_raw(script, Cb::Zero, args, Ignore)
            }
            Api::V2 => {
                let args = &mut [Arg::Object(&h.obj), Arg::Int(count), Arg::Int(offset), Arg::Int(flags.into())];
                self.call_raw(script, Cb::Zero, args, Ignore)
            }
        };
        // (ENOTSUP and EOPNOTSUPP are the same number on Linux.)
        if let Some(errno) = errors::recorded_errno().filter(|&e| e == libc::EOPNOTSUPP || e == libc::ENOTSUP) {
            log::debug("zero requested falling back to pwrite");
            return Err(Error::silent(errno));
        }
        match r {
            Ok(Some(())) => Ok(()),
            Ok(None) => {
                log::debug("zero missing, falling back to pwrite");
                Err(Error::silent(libc::EOPNOTSUPP))
            }
            Err(e) => Err(errors::from_script(&script.path, Cb::Zero.name(), &e)),
        }
    }

    fn cache(&self, h: &Self::Handle, count: u32, offset: u64, flags: u32) -> Result<()> {
        let args = &mut [Arg::Object(&h.obj), Arg::Int(count.into()), Arg::Int(offset as i64), Arg::Int(flags.into())];
        self.call(Cb::Cache, args, Ignore)?.ok_or_else(|| self.not_implemented(Cb::Cache))
    }

    fn extents(&self, h: &Self::Handle, count: u32, offset: u64, flags: u32, extents: &mut Extents) -> Result<()> {
        let args = &mut [Arg::Object(&h.obj), Arg::Int(count.into()), Arg::Int(offset as i64), Arg::Int(flags.into())];
        match self.call(Cb::Extents, args, convert::Extents)? {
            // What nbdkit does for a plugin without extents: all data.
            None => extents.add(offset, count.into(), 0),
            // nbdkit ignores extents that end before the request, and then
            // fails without naming the script.
            Some(list) if !list.iter().any(|&(o, l, _)| l > 0 && o.saturating_add(l) > offset) => Err(self.invalid(
                Cb::Extents,
                format!("extents method returned no extent that covers offset {offset} (the start of the request)"),
            )),
            Some(list) => list.iter().try_for_each(|&(o, l, t)| {
                extents.add(o, l, t).map_err(|e| {
                    self.invalid(
                        Cb::Extents,
                        format!(
                            "nbdkit refused the extent (offset {o}, length {l}, type {t}) for a request of \
                             {count} bytes at offset {offset} (see its message above)"
                        ),
                    )
                    .with_errno_of(&e)
                })
            }),
        }
    }
}

impl<B: ScriptBackend> PythonPlugin<B> {
    fn not_implemented(&self, cb: Cb) -> Error {
        Error::eio(format!("{} not implemented", cb.name()))
    }
}

/// A line on nbdkit's stdout, through C stdio so that it comes out in
/// order with the lines nbdkit prints itself.
fn print_line(line: &str) {
    let Ok(line) = std::ffi::CString::new(line) else { return };
    // SAFETY: "%s\n" with one C string argument that outlives the call.
    unsafe { libc::printf(c"%s\n".as_ptr(), line.as_ptr()) };
}
