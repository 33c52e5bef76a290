//! The `nbdkit` module that scripts import: functions and constants as
//! nbdkit 1.32's Python plugin has them.

use nbdkit_plugin::backend::{ModArg, ModError, ModFunction, ModValue, ModuleSpec, Param};
use nbdkit_plugin::{log, server};
use nbdkit_sys as sys;

use crate::errors;

pub static MODULE: ModuleSpec = ModuleSpec {
    name: "nbdkit",
    doc: "Module used to access nbdkit server API",
    functions: &FUNCTIONS,
    constants: &CONSTANTS,
};

static FUNCTIONS: [ModFunction; 5] = [
    ModFunction { name: "debug", doc: "Print a debug message", params: &[Param::Str], optional: 0, call: debug },
    ModFunction {
        name: "export_name",
        doc: "Return the optional export name negotiated with the client",
        params: &[],
        optional: 0,
        call: export_name,
    },
    ModFunction {
        name: "set_error",
        doc: "Store an errno value prior to throwing an exception",
        params: &[Param::Int],
        optional: 0,
        call: set_error,
    },
    ModFunction { name: "shutdown", doc: "Request asynchronous shutdown", params: &[], optional: 0, call: shutdown },
    ModFunction {
        name: "parse_size",
        doc: "Parse human-readable size strings into bytes",
        params: &[Param::Str],
        optional: 0,
        call: parse_size,
    },
];

/// `nbdkit.NAME` is `NBDKIT_NAME` of <nbdkit-common.h>.
macro_rules! constants {
    ($($name:ident = $value:path),* $(,)?) => {
        [$((stringify!($name), $value as i64)),*]
    };
}

static CONSTANTS: [(&str, i64); 16] = constants![
    THREAD_MODEL_SERIALIZE_CONNECTIONS = sys::NBDKIT_THREAD_MODEL_SERIALIZE_CONNECTIONS,
    THREAD_MODEL_SERIALIZE_ALL_REQUESTS = sys::NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS,
    THREAD_MODEL_SERIALIZE_REQUESTS = sys::NBDKIT_THREAD_MODEL_SERIALIZE_REQUESTS,
    THREAD_MODEL_PARALLEL = sys::NBDKIT_THREAD_MODEL_PARALLEL,
    FLAG_MAY_TRIM = sys::NBDKIT_FLAG_MAY_TRIM,
    FLAG_FUA = sys::NBDKIT_FLAG_FUA,
    FLAG_REQ_ONE = sys::NBDKIT_FLAG_REQ_ONE,
    FLAG_FAST_ZERO = sys::NBDKIT_FLAG_FAST_ZERO,
    FUA_NONE = sys::NBDKIT_FUA_NONE,
    FUA_EMULATE = sys::NBDKIT_FUA_EMULATE,
    FUA_NATIVE = sys::NBDKIT_FUA_NATIVE,
    CACHE_NONE = sys::NBDKIT_CACHE_NONE,
    CACHE_EMULATE = sys::NBDKIT_CACHE_EMULATE,
    CACHE_NATIVE = sys::NBDKIT_CACHE_NATIVE,
    EXTENT_HOLE = sys::NBDKIT_EXTENT_HOLE,
    EXTENT_ZERO = sys::NBDKIT_EXTENT_ZERO,
];

/// The backend checked the arguments against `params`; these accessors
/// only restate that.
fn str_arg(args: &[ModArg], i: usize) -> &str {
    match &args[i] {
        ModArg::Str(s) => s,
        other => unreachable!("argument {i} was checked to be a str, got {other:?}"),
    }
}

fn int_arg(args: &[ModArg], i: usize) -> i64 {
    match &args[i] {
        ModArg::Int(n) => *n,
        other => unreachable!("argument {i} was checked to be an int, got {other:?}"),
    }
}

fn debug(args: &[ModArg]) -> Result<ModValue, ModError> {
    log::debug(str_arg(args, 0));
    Ok(ModValue::None)
}

fn export_name(_: &[ModArg]) -> Result<ModValue, ModError> {
    let name = server::export_name().ok_or_else(|| ModError::Runtime("nbdkit.export_name failed".into()))?;
    String::from_utf8(name)
        .map(ModValue::Str)
        .map_err(|_| ModError::Value("the export name sent by the client is not valid UTF-8".into()))
}

fn set_error(args: &[ModArg]) -> Result<ModValue, ModError> {
    let errno = i32::try_from(int_arg(args, 0)).map_err(|_| ModError::Value("errno out of range".into()))?;
    errors::record_errno(errno);
    Ok(ModValue::None)
}

fn shutdown(_: &[ModArg]) -> Result<ModValue, ModError> {
    server::shutdown();
    Ok(ModValue::None)
}

fn parse_size(args: &[ModArg]) -> Result<ModValue, ModError> {
    server::parse_size(str_arg(args, 0))
        .map(ModValue::Int)
        .ok_or_else(|| ModError::Value("Unable to parse string as size".into()))
}
