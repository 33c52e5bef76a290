//! The `nbdkit` module that scripts import: functions and constants as
//! nbdkit 1.32's Python plugin has them.

use nbdkit_plugin::backend::{ModArg, ModError, ModFunction, ModValue, ModuleSpec, Param};
use nbdkit_plugin::server::{self, PeerCredential, ServerError};
use nbdkit_plugin::log;
use nbdkit_sys as sys;

use crate::errors;

pub static MODULE: ModuleSpec = ModuleSpec {
    name: "nbdkit",
    doc: "Module used to access nbdkit server API",
    functions: &FUNCTIONS,
    constants: &CONSTANTS,
};

static FUNCTIONS: [ModFunction; 20] = [
    ModFunction { name: "debug", doc: "Print a debug message", params: &[Param::Str], optional: 0, call: debug },
    ModFunction { name: "export_name", doc: "Return the optional export name negotiated with the client", params: &[], optional: 0, call: export_name },
    ModFunction { name: "set_error", doc: "Store an errno value prior to throwing an exception", params: &[Param::Int], optional: 0, call: set_error },
    ModFunction { name: "shutdown", doc: "Request asynchronous shutdown", params: &[], optional: 0, call: shutdown },
    ModFunction { name: "parse_size", doc: "Parse human-readable size strings into bytes", params: &[Param::Str], optional: 0, call: parse_size },
    ModFunction { name: "parse_bool", doc: "Parse a boolean string (on, off, yes, no, 1, 0, true, false)", params: &[Param::Str], optional: 0, call: parse_bool },
    ModFunction { name: "parse_probability", doc: "Parse a probability (0.1, 10%, 1:10, 1/10) into a float", params: &[Param::Str, Param::Str], optional: 0, call: parse_probability },
    ModFunction { name: "parse_delay", doc: "Parse a delay (1.2s, 120ms, 10us, 1ns) into (seconds, nanoseconds)", params: &[Param::Str, Param::Str], optional: 0, call: parse_delay },
    ModFunction { name: "disconnect", doc: "Request disconnection from current client", params: &[Param::Bool], optional: 0, call: disconnect },
    ModFunction { name: "is_tls", doc: "Return True if the client connected over TLS", params: &[], optional: 0, call: is_tls },
    ModFunction { name: "stdio_safe", doc: "Return True if the plugin may use stdin and stdout", params: &[], optional: 0, call: stdio_safe },
    ModFunction { name: "nanosleep", doc: "Sleep (seconds, nanoseconds), waking early on shutdown or disconnect", params: &[Param::Int, Param::Int], optional: 0, call: nanosleep },
    ModFunction { name: "peer_pid", doc: "Return the client's process ID (Unix socket connections)", params: &[], optional: 0, call: peer_pid },
    ModFunction { name: "peer_uid", doc: "Return the client's user ID (Unix socket connections)", params: &[], optional: 0, call: peer_uid },
    ModFunction { name: "peer_gid", doc: "Return the client's group ID (Unix socket connections)", params: &[], optional: 0, call: peer_gid },
    ModFunction { name: "peer_security_context", doc: "Return the client's security context (Unix socket connections)", params: &[], optional: 0, call: peer_security_context },
    ModFunction { name: "peer_tls_dn", doc: "Return the Distinguished Name of the client's TLS certificate", params: &[], optional: 0, call: peer_tls_dn },
    ModFunction { name: "peer_tls_issuer_dn", doc: "Return the Distinguished Name of the issuer of the client's TLS certificate", params: &[], optional: 0, call: peer_tls_issuer_dn },
    ModFunction { name: "_log", doc: "Log a message of a Python logging level (used by the logging bridge)", params: &[Param::Int, Param::Str], optional: 0, call: log_record },
    ModFunction { name: "read_password", doc: "Read a password given as a parameter: '-' asks, '+FILE' reads a file, '-FD' a descriptor", params: &[Param::Str], optional: 0, call: read_password },
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

fn bool_arg(args: &[ModArg], i: usize) -> bool {
    match &args[i] {
        ModArg::Bool(b) => *b,
        other => unreachable!("argument {i} was checked to be a bool, got {other:?}"),
    }
}

/// A missing newer function raises NotImplementedError naming the nbdkit
/// release that added it; a refusal raises `refused`.
fn server_error(e: ServerError, refused: fn(String) -> ModError) -> ModError {
    match e {
        ServerError::Unavailable(m) => ModError::NotImplemented(m),
        ServerError::Failed(m) => refused(m),
    }
}

fn parse_bool(args: &[ModArg]) -> Result<ModValue, ModError> {
    server::parse_bool(str_arg(args, 0))
        .map(ModValue::Bool)
        .ok_or_else(|| ModError::Value("Unable to parse string as boolean".into()))
}

fn parse_probability(args: &[ModArg]) -> Result<ModValue, ModError> {
    server::parse_probability(str_arg(args, 0), str_arg(args, 1))
        .map(ModValue::Float)
        .map_err(|e| server_error(e, ModError::Value))
}

fn parse_delay(args: &[ModArg]) -> Result<ModValue, ModError> {
    server::parse_delay(str_arg(args, 0), str_arg(args, 1))
        .map(|(s, ns)| ModValue::Ints(vec![s.into(), ns.into()]))
        .map_err(|e| server_error(e, ModError::Value))
}

fn disconnect(args: &[ModArg]) -> Result<ModValue, ModError> {
    server::disconnect(bool_arg(args, 0)).map(|()| ModValue::None).map_err(|e| server_error(e, ModError::Runtime))
}

fn is_tls(_: &[ModArg]) -> Result<ModValue, ModError> {
    Ok(ModValue::Bool(server::is_tls()))
}

fn stdio_safe(_: &[ModArg]) -> Result<ModValue, ModError> {
    Ok(ModValue::Bool(server::stdio_safe()))
}

fn nanosleep(args: &[ModArg]) -> Result<ModValue, ModError> {
    let sec = u32::try_from(int_arg(args, 0)).map_err(|_| ModError::Value("seconds out of range".into()))?;
    let nsec = u32::try_from(int_arg(args, 1)).map_err(|_| ModError::Value("nanoseconds out of range".into()))?;
    server::nanosleep(sec, nsec).map(|()| ModValue::None).map_err(|e| server_error(e, ModError::Runtime))
}

fn peer(which: PeerCredential) -> Result<ModValue, ModError> {
    server::peer_credential(which).map(ModValue::Int).map_err(|e| server_error(e, ModError::Runtime))
}

fn peer_pid(_: &[ModArg]) -> Result<ModValue, ModError> {
    peer(PeerCredential::Pid)
}

fn peer_uid(_: &[ModArg]) -> Result<ModValue, ModError> {
    peer(PeerCredential::Uid)
}

fn peer_gid(_: &[ModArg]) -> Result<ModValue, ModError> {
    peer(PeerCredential::Gid)
}

fn text(r: Result<String, ServerError>) -> Result<ModValue, ModError> {
    r.map(ModValue::Str).map_err(|e| server_error(e, ModError::Runtime))
}

fn peer_security_context(_: &[ModArg]) -> Result<ModValue, ModError> {
    text(server::peer_security_context())
}

fn peer_tls_dn(_: &[ModArg]) -> Result<ModValue, ModError> {
    text(server::peer_tls_dn())
}

fn peer_tls_issuer_dn(_: &[ModArg]) -> Result<ModValue, ModError> {
    text(server::peer_tls_issuer_dn())
}

fn read_password(args: &[ModArg]) -> Result<ModValue, ModError> {
    text(server::read_password(str_arg(args, 0)))
}

/// Python's `logging.WARNING`: from here up a record is always shown.
const PY_LOGGING_WARNING: i64 = 30;

fn log_record(args: &[ModArg]) -> Result<ModValue, ModError> {
    let (level, message) = (int_arg(args, 0), str_arg(args, 1));
    if level >= PY_LOGGING_WARNING {
        log::error(message);
    } else {
        log::debug(message);
    }
    Ok(ModValue::None)
}
