//! [`ScriptBackend`]: the narrow interface an embedded interpreter offers
//! to a scripting plugin.
//!
//! The split of work: a backend knows its interpreter (how to start it,
//! attach a thread, call a function, read an int out of a value, render
//! an exception); the plugin knows the plugin's semantics (which
//! callbacks exist, their arguments, what a result means, what is an
//! error). A backend therefore offers *primitives* ([`Attached`]) and the
//! plugin composes them into conversions ([`Convert`]) that are written
//! once for every backend.
//!
//! Built for speed from the start:
//! * a call and the conversion of its result happen in one attachment
//!   of the calling thread ([`ScriptBackend::call`]), and a backend keeps
//!   one interpreter thread state per OS thread, made on first use;
//! * byte buffers are passed as views over the caller's memory
//!   ([`Arg::Bytes`], [`Arg::BytesMut`]), invalidated when the call returns;
//! * callables are looked up once ([`ScriptBackend::callable`]) and kept
//!   as [`ScriptBackend::Object`]s.

use std::path::Path;

/// A script value kept across calls and threads (a handle returned by the
/// script's `open`, a callable). Dropping one releases it: backends make
/// that safe on any thread.
pub trait ScriptObject: Send + Sync + 'static {}
impl<T: Send + Sync + 'static> ScriptObject for T {}

/// One argument of a call into the script.
pub enum Arg<'a, O> {
    /// A kept object, such as the connection's handle.
    Object(&'a O),
    Bool(bool),
    Int(i64),
    Str(&'a str),
    /// A read-only view of the caller's bytes, valid only during the call.
    Bytes(&'a [u8]),
    /// A writable view of the caller's bytes, valid only during the call.
    BytesMut(&'a mut [u8]),
}

/// What went wrong in the script or in reading its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptError {
    /// The script raised: the exception rendered as the interpreter's
    /// traceback, and the exception's own type and message.
    Exception { traceback: String, kind: String, message: String },
    /// The result had the wrong shape (a plugin-level message).
    Invalid(String),
}

impl ScriptError {
    /// The text to log: the whole traceback, or the message.
    pub fn render(&self) -> &str {
        match self {
            ScriptError::Exception { traceback, .. } => traceback,
            ScriptError::Invalid(m) => m,
        }
    }
}

/// Operations on temporary values while the thread is attached. The plugin's
/// conversions ([`Convert`]) are written in terms of these.
pub trait Attached {
    /// A value borrowed from the interpreter for this attachment only.
    type Value;
    /// A value kept beyond the attachment.
    type Object: ScriptObject;

    fn is_none(&self, v: &Self::Value) -> bool;
    /// `v is True`.
    fn is_true_singleton(&self, v: &Self::Value) -> bool;
    /// The language's own truth test (`bool(v)`).
    fn truth(&self, v: &Self::Value) -> Result<bool, ScriptError>;
    /// An integer that fits `i64` (the language's index/int protocol;
    /// fails on other types and on overflow).
    fn to_i64(&self, v: &Self::Value) -> Result<i64, ScriptError>;
    /// An integer that fits `u64`.
    fn to_u64(&self, v: &Self::Value) -> Result<u64, ScriptError>;
    /// A text or bytes value as bytes (text encoded as UTF-8); `None` for
    /// any other type.
    fn to_text_bytes(&self, v: &Self::Value) -> Option<Vec<u8>>;
    /// The items of a tuple (exactly a tuple); `None` for other types.
    fn tuple_items(&self, v: &Self::Value) -> Option<Vec<Self::Value>>;
    /// Iterate `v` (any iterable), calling `f` on each item. `Ok(false)`
    /// if `v` is not iterable at all.
    fn for_each(
        &self,
        v: &Self::Value,
        f: &mut dyn FnMut(&Self, Self::Value) -> Result<(), ScriptError>,
    ) -> Result<bool, ScriptError>;
    /// Copy the bytes of a buffer-protocol value into `dst`, returning how
    /// many bytes the value had (it copies `min(len, dst.len())`). `None`
    /// if `v` does not offer a buffer.
    fn copy_bytes(&self, v: &Self::Value, dst: &mut [u8]) -> Result<Option<usize>, ScriptError>;
    /// Keep `v` beyond this attachment.
    fn keep(&self, v: Self::Value) -> Self::Object;
}

/// A conversion of a call's result, run while still attached.
pub trait Convert {
    type Output;
    fn convert<A: Attached>(self, cx: &A, value: A::Value) -> Result<Self::Output, ScriptError>;
}

/// Ignore the result (callbacks with no return value).
pub struct Ignore;

impl Convert for Ignore {
    type Output = ();
    fn convert<A: Attached>(self, _: &A, _: A::Value) -> Result<(), ScriptError> {
        Ok(())
    }
}

/// Buffers the script kept beyond a call.
///
/// A backend takes every lent buffer back when a call returns; when it had
/// to release a view the script still held, it calls [`lent::mark_kept`].
/// The plugin, which knows the script and the callback, asks
/// [`lent::take_kept`] after the call and reports it: a raw pointer the
/// script took from the view (ctypes `from_buffer`, say) is now dangling,
/// and only the script can be fixed.
pub mod lent {
    use std::cell::Cell;

    thread_local! {
        static KEPT: Cell<bool> = const { Cell::new(false) };
    }

    /// Called by a backend that released a view the script kept.
    pub fn mark_kept() {
        KEPT.with(|k| k.set(true));
    }

    /// Whether the last call on this thread kept a lent buffer; clears it.
    pub fn take_kept() -> bool {
        KEPT.with(|k| k.replace(false))
    }
}

/// A global name of the script's main module.
pub enum Global<O> {
    Missing,
    /// Present but not callable (`pread = 3`); treated as missing, logged.
    NotCallable,
    Callable(O),
}

/// Where a function of the `nbdkit` module gets its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    Str,
    Int,
    /// Any value, read with the language's truth rules.
    Bool,
}

/// An argument received by a module function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModArg {
    Str(String),
    Int(i64),
    Bool(bool),
}

/// What a module function returns to the script.
#[derive(Debug, Clone, PartialEq)]
pub enum ModValue {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    /// A tuple of ints, such as `(sec, nsec)`.
    Ints(Vec<i64>),
}

/// An exception a module function raises, by its built-in type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModError {
    Type(String),
    Value(String),
    Runtime(String),
    /// `OSError(errno, strerror)`.
    Os(i32, String),
    NotImplemented(String),
}

/// One function of the `nbdkit` module. Arguments are checked against
/// `params` by the backend (a wrong count or type raises `TypeError`)
/// before `call` runs; `optional` trailing params may be left out.
pub struct ModFunction {
    pub name: &'static str,
    pub doc: &'static str,
    pub params: &'static [Param],
    pub optional: usize,
    pub call: fn(&[ModArg]) -> Result<ModValue, ModError>,
}

/// The `nbdkit` module a script imports: functions and int constants.
pub struct ModuleSpec {
    pub name: &'static str,
    pub doc: &'static str,
    pub functions: &'static [ModFunction],
    pub constants: &'static [(&'static str, i64)],
}

/// Which interpreter runs the script, for `--dump-plugin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Implementation {
    /// `CPython`, `RustPython`.
    pub name: String,
    /// The language version, `3.11.2`.
    pub version: String,
    /// `key=value` lines the reference prints (`python_pep_384_abi_version`).
    pub extra: Vec<(String, String)>,
}

/// What the plugin tells the backend when it starts the interpreter.
pub struct StartOptions {
    pub module: &'static ModuleSpec,
    /// Source run once in a namespace of its own after the module is
    /// installed and before any script: plugin set-up written in the
    /// script language.
    pub bootstrap: &'static str,
}

/// The script to run as `__main__`.
pub struct MainScript<'a> {
    pub source: &'a [u8],
    /// The file name shown in tracebacks and set as `__file__`.
    pub path: &'a str,
    /// `sys.argv`.
    pub argv: &'a [String],
    /// Put first on the module search path (the script's directory).
    pub search_dir: Option<&'a Path>,
}

/// An embedded interpreter. One instance per process; every method may
/// be called from any thread, and attaches that thread itself.
pub trait ScriptBackend: Sized + Send + Sync + 'static {
    type Object: ScriptObject;

    /// Start the interpreter and install the module.
    fn start(options: StartOptions) -> Result<Self, ScriptError>;

    fn implementation(&self) -> Implementation;

    /// Run `script.source` as the `__main__` module.
    fn run_main(&self, script: &MainScript<'_>) -> Result<(), ScriptError>;

    /// Look up a global of `__main__` as a callable.
    fn callable(&self, name: &str) -> Global<Self::Object>;

    /// Read a global of `__main__` through `convert`; `None` if missing.
    fn global<C: Convert>(&self, name: &str, convert: C) -> Option<Result<C::Output, ScriptError>>;

    /// Call `f(args...)` and convert its result, in one attachment.
    /// Views passed as [`Arg::Bytes`]/[`Arg::BytesMut`] are released
    /// before this returns: a script that kept one gets an exception on
    /// use, never a dangling pointer.
    fn call<C: Convert>(&self, f: &Self::Object, args: &mut [Arg<'_, Self::Object>], convert: C)
        -> Result<C::Output, ScriptError>;

    /// Call `f(args...)` and keep its result (the handle from `open`).
    fn call_keep(&self, f: &Self::Object, args: &mut [Arg<'_, Self::Object>]) -> Result<Self::Object, ScriptError>;

    /// Release a kept object now, on this thread (attached).
    fn release(&self, object: Self::Object);

    /// Flush the script's standard output (after `dump_plugin`).
    fn flush_stdout(&self);

    /// Shut the interpreter down (at unload). Nothing may be called after.
    fn finalize(&self);

    /// Prepare for `fork()` / recover in the child (nbdkit forks to
    /// daemonize after `get_ready`). Default: nothing to do.
    fn after_fork_in_child(&self) {}
}
