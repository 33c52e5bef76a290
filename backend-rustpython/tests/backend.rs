//! The backend on its own, without nbdkit: one interpreter for the whole
//! test process (as in a plugin), shared by tests that run in parallel.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use backend_rustpython::{Kept, RustPython};
use nbdkit_plugin::backend::lent::take_kept;
use nbdkit_plugin::backend::{
    Arg, Attached, Convert, Global, Ignore, MainScript, ModArg, ModError, ModFunction, ModValue, ModuleSpec, Param,
    ScriptBackend, ScriptError, StartOptions,
};

fn add(args: &[ModArg]) -> Result<ModValue, ModError> {
    match args {
        [ModArg::Int(a), ModArg::Int(b)] => Ok(ModValue::Int(a + b)),
        _ => unreachable!("checked by the backend"),
    }
}

fn fail(_: &[ModArg]) -> Result<ModValue, ModError> {
    Err(ModError::Os(libc::ENOENT, "no such thing".into()))
}

static MODULE: ModuleSpec = ModuleSpec {
    name: "nbdkit",
    doc: "test module",
    functions: &[
        ModFunction { name: "add", doc: "a + b", params: &[Param::Int, Param::Int], optional: 0, call: add },
        ModFunction { name: "fail", doc: "raise", params: &[], optional: 0, call: fail },
    ],
    constants: &[("ANSWER", 42)],
};

const SCRIPT: &str = r#"
import nbdkit, threading, time
kept = {}
tls = threading.local()

def fill(buf, byte):
    buf[:] = bytes([byte]) * len(buf)

def keep(buf):
    kept["view"] = buf
    kept["slice"] = buf[1:3]
    return len(buf)

def use_kept(which):
    return kept[which][0]

def keep_derived(buf, which):
    import collections, itertools
    make = {
        'cast': lambda: buf.cast('B'),
        'castI': lambda: buf.cast('I'),
        'slicecast': lambda: buf[4:12].cast('B'),
        'castslice': lambda: buf.cast('B')[4:12],
        'mv': lambda: memoryview(buf),
        'ro': lambda: buf.toreadonly(),
        'rocast': lambda: buf.toreadonly().cast('B')[1:],
        # Where the GC-tracked containers do not reach: a private copy.
        'deque': lambda: collections.deque([buf[4:12]]),
        'repeat': lambda: itertools.repeat(buf.cast('B')),
    }
    kept[which] = make[which]()

def read_kept(which):
    v = kept[which]
    if which == 'deque':
        v = v[0]
    elif which == 'repeat':
        v = next(v)
    try:
        data = bytes(v[0:4])
    except ValueError as e:
        return 'ValueError: %s' % e
    try:
        v[0] = 0xee
    except (ValueError, TypeError) as e:
        return 'read %s, write %s' % (data.hex(), type(e).__name__)
    return 'read %s, wrote' % data.hex()

def raise_with(buf):
    raise RuntimeError('on purpose')

def release_view(buf):
    buf.release()

def weak_view(buf):
    import weakref
    kept['weak'] = weakref.ref(buf)

def weak_view_dead():
    return kept['weak']() is None

def transient_derived(buf):
    # Derived views used and dropped within the call: nothing is kept.
    c = buf.cast('B')
    s = c[1:3]
    del c, s
    return len(buf)

def store_like_bytes(buf):
    # bytearray slice assignment from the lent view must give what it
    # gives from bytes of the same content, in every shape.
    specs = [(8, 8 + len(buf), None), (0, 4, None), (0, 2 * len(buf), 2), (60, 70, None),
             (None, None, None), (-len(buf), None, None), (30, 20, None), (3, 3, None), (70, 80, None)]
    bad = []
    for start, stop, step in specs:
        a = bytearray(range(64))
        b = bytearray(range(64))
        s = slice(start, stop, step)
        try:
            a[s] = buf
            ra = bytes(a)
        except Exception as e:
            ra = type(e).__name__
        try:
            b[s] = bytes(buf)
            rb = bytes(b)
        except Exception as e:
            rb = type(e).__name__
        if ra != rb:
            bad.append('%r: %r != %r' % (s, ra, rb))
    return '\n'.join(bad)

def noop(h, buf, offset, flags):
    pass

def as_int(s):
    return int(s)

def make_handle():
    return {}

def inner():
    raise ValueError("inner")

def boom():
    try:
        inner()
    except ValueError as e:
        raise KeyError("outer") from e

def module_checks():
    assert nbdkit.ANSWER == 42
    assert nbdkit.add(2, 3) == 5
    out = []
    for call in (lambda: nbdkit.add(1), lambda: nbdkit.add("1", 2), lambda: nbdkit.add(1, 2, x=3), nbdkit.fail):
        try:
            call()
        except Exception as e:
            out.append("%s: %s" % (type(e).__name__, e))
    return "\n".join(out)

def sleeper(seconds):
    tls.calls = getattr(tls, "calls", 0) + 1
    time.sleep(float(seconds))
    return tls.calls

def write_utf8(path):
    with open(path, "w") as f:
        f.write("caf\u00e9")

def os_calls(path):
    import os
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        assert os.pwrite(fd, b"hello world", 0) == 11
        assert os.pread(fd, 5, 6) == b"world"
        a, b = bytearray(5), bytearray(6)
        assert os.preadv(fd, [a, b], 0) == 11 and a == b"hello" and b == b" world"
        assert os.pwritev(fd, [b"HE", memoryview(b"LLO")], 0) == 5
        os.fdatasync(fd)
        return os.pread(fd, 11, 0)
    finally:
        os.close(fd)
"#;

fn backend() -> &'static RustPython {
    static B: OnceLock<RustPython> = OnceLock::new();
    B.get_or_init(|| {
        let b = RustPython::start(StartOptions { module: &MODULE, bootstrap: "import sys\n" }).expect("start");
        let argv = ["test.py".to_string()];
        b.run_main(&MainScript { source: SCRIPT.as_bytes(), path: "test.py", argv: &argv, search_dir: None })
            .expect("run script");
        b
    })
}

fn f(name: &str) -> Kept {
    match backend().callable(name) {
        Global::Callable(f) => f,
        _ => panic!("{name} is not a callable"),
    }
}

/// The result as an i64.
struct I64;
impl Convert for I64 {
    type Output = i64;
    fn convert<A: Attached>(self, cx: &A, v: A::Value) -> Result<i64, ScriptError> {
        cx.to_i64(&v)
    }
}

struct U64;
impl Convert for U64 {
    type Output = u64;
    fn convert<A: Attached>(self, cx: &A, v: A::Value) -> Result<u64, ScriptError> {
        cx.to_u64(&v)
    }
}

struct Text;
impl Convert for Text {
    type Output = String;
    fn convert<A: Attached>(self, cx: &A, v: A::Value) -> Result<String, ScriptError> {
        Ok(String::from_utf8(cx.to_text_bytes(&v).expect("text")).unwrap())
    }
}

fn message(e: ScriptError) -> (String, String) {
    match e {
        ScriptError::Exception { kind, message, .. } => (kind, message),
        ScriptError::Invalid(m) => ("Invalid".into(), m),
    }
}

#[test]
fn writable_view_reaches_rust_memory() {
    let mut mem = vec![0u8; 4096];
    backend().call(&f("fill"), &mut [Arg::BytesMut(&mut mem), Arg::Int(7)], Ignore).unwrap();
    assert!(mem.iter().all(|&b| b == 7));
}

#[test]
fn kept_view_and_slice_raise_after_the_call() {
    let mut mem = vec![1u8; 16];
    assert_eq!(backend().call(&f("keep"), &mut [Arg::BytesMut(&mut mem)], I64).unwrap(), 16);
    drop(mem);
    for which in ["view", "slice"] {
        let e = backend().call(&f("use_kept"), &mut [Arg::Str(which)], I64).unwrap_err();
        assert_eq!(
            message(e),
            ("ValueError".into(), "operation forbidden on released memoryview object".into()),
            "{which}"
        );
    }
}

#[test]
fn derived_views_kept_are_released_or_see_a_copy() {
    let released = "ValueError: operation forbidden on released memoryview object";
    for (which, readonly, want) in [
        ("cast", false, released.to_string()),
        ("castI", false, released.to_string()),
        ("slicecast", false, released.to_string()),
        ("castslice", false, released.to_string()),
        ("mv", false, released.to_string()),
        ("ro", false, released.to_string()),
        ("rocast", true, released.to_string()),
        // Out of the sweep's reach: a copy of the bytes at the end of the
        // call, never the memory itself (changed below).
        ("deque", false, "read 04050607, wrote".to_string()),
        ("repeat", false, "read 00010203, wrote".to_string()),
    ] {
        let mut mem: Vec<u8> = (0..16).collect();
        take_kept();
        let buf = if readonly { Arg::Bytes(&mem) } else { Arg::BytesMut(&mut mem) };
        backend().call(&f("keep_derived"), &mut [buf, Arg::Str(which)], Ignore).unwrap();
        assert!(take_kept(), "{which}: the plugin is told the buffer was kept");
        mem.fill(0xaa);
        let got = backend().call(&f("read_kept"), &mut [Arg::Str(which)], Text).unwrap();
        assert_eq!(got, want, "{which}");
        assert!(mem.iter().all(|&b| b == 0xaa), "{which}: nbdkit's memory was written after the call");
    }
}

#[test]
fn nothing_kept_is_not_reported() {
    let mut mem = vec![0u8; 64];
    take_kept();
    backend().call(&f("fill"), &mut [Arg::BytesMut(&mut mem), Arg::Int(1)], Ignore).unwrap();
    assert_eq!(backend().call(&f("transient_derived"), &mut [Arg::BytesMut(&mut mem)], I64).unwrap(), 64);
    backend().call(&f("transient_derived"), &mut [Arg::Bytes(&mem)], I64).unwrap();
    // The traceback of an exception holds the call's frame (and so the
    // view) until it is dropped: not the script keeping it.
    backend().call(&f("raise_with"), &mut [Arg::BytesMut(&mut mem)], Ignore).unwrap_err();
    assert!(!take_kept());
}

#[test]
fn a_view_the_script_released_or_watches_is_not_reused() {
    let mut mem = vec![0u8; 48];
    backend().call(&f("release_view"), &mut [Arg::BytesMut(&mut mem)], Ignore).unwrap();
    backend().call(&f("fill"), &mut [Arg::BytesMut(&mut mem), Arg::Int(3)], Ignore).unwrap();
    assert!(mem.iter().all(|&b| b == 3));
    backend().call(&f("weak_view"), &mut [Arg::BytesMut(&mut mem)], Ignore).unwrap();
    backend().call(&f("fill"), &mut [Arg::BytesMut(&mut mem), Arg::Int(4)], Ignore).unwrap();
    struct Truth;
    impl Convert for Truth {
        type Output = bool;
        fn convert<A: Attached>(self, cx: &A, v: A::Value) -> Result<bool, ScriptError> {
            cx.truth(&v)
        }
    }
    assert!(backend().call(&f("weak_view_dead"), &mut [], Truth).unwrap(), "a weakly referenced view was lent again");
}

#[test]
fn bytearray_assignment_from_a_lent_view_is_unchanged() {
    for readonly in [true, false] {
        let mut mem: Vec<u8> = (100..110).collect();
        let buf = if readonly { Arg::Bytes(&mem) } else { Arg::BytesMut(&mut mem) };
        let bad = backend().call(&f("store_like_bytes"), &mut [buf], Text).unwrap();
        assert_eq!(bad, "", "readonly={readonly}");
    }
}

#[test]
fn read_only_view_refuses_writes() {
    let e = backend().call(&f("fill"), &mut [Arg::Bytes(&[0; 8]), Arg::Int(1)], Ignore).unwrap_err();
    assert_eq!(message(e), ("TypeError".into(), "cannot modify read-only memory".into()));
}

#[test]
fn traceback_is_format_exception_joined_by_spaces() {
    let e = backend().call(&f("boom"), &mut [], Ignore).unwrap_err();
    let ScriptError::Exception { traceback, kind, message } = e else { panic!("{e:?}") };
    assert_eq!((kind.as_str(), message.as_str()), ("KeyError", "'outer'"));
    assert!(traceback.starts_with("Traceback (most recent call last):\n   File \"test.py\", line "), "{traceback}");
    assert!(traceback.contains(" ValueError: inner\n"), "{traceback}");
    assert!(
        traceback.contains(" \nThe above exception was the direct cause of the following exception:\n\n Traceback"),
        "{traceback}"
    );
    assert!(traceback.ends_with(" KeyError: 'outer'\n"), "{traceback}");
}

#[test]
fn module_functions_check_arguments_like_cpython() {
    let out = backend().call(&f("module_checks"), &mut [], Text).unwrap();
    assert_eq!(
        out,
        "TypeError: add() takes 2 arguments (1 given)\n\
         TypeError: add() argument 1 must be int, not str\n\
         TypeError: add() takes no keyword arguments\n\
         FileNotFoundError: [Errno 2] no such thing"
    );
}

#[test]
fn integer_conversions_and_messages() {
    let eval = |s: &str| {
        let b = backend();
        let int = f("as_int");
        b.call(&int, &mut [Arg::Str(s)], I64).map_err(message)
    };
    assert_eq!(eval("-5"), Ok(-5));
    assert_eq!(
        eval("99999999999999999999"),
        Err(("OverflowError".into(), "Python int too large to convert to C long".into()))
    );
    let neg = backend().call(&f("as_int"), &mut [Arg::Str("-1")], U64).map_err(message);
    assert_eq!(neg, Err(("OverflowError".into(), "can't convert negative int to unsigned".into())));
}

#[test]
fn default_encoding_is_utf8() {
    let path = std::env::temp_dir().join(format!("rp-backend-{}.txt", std::process::id()));
    let p = path.to_str().unwrap();
    backend().call(&f("write_utf8"), &mut [Arg::Str(p)], Ignore).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), "café".as_bytes());
    let _ = std::fs::remove_file(&path);
}

#[test]
fn os_has_the_positional_io_calls() {
    let path = std::env::temp_dir().join(format!("rp-backend-os-{}.bin", std::process::id()));
    let p = path.to_str().unwrap();
    struct Bytes;
    impl Convert for Bytes {
        type Output = Vec<u8>;
        fn convert<A: Attached>(self, cx: &A, v: A::Value) -> Result<Vec<u8>, ScriptError> {
            Ok(cx.to_text_bytes(&v).expect("bytes"))
        }
    }
    let got = backend().call(&f("os_calls"), &mut [Arg::Str(p)], Bytes).map_err(|e| e.render().to_string()).unwrap();
    assert_eq!(got, b"HELLO world");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn threads_run_python_in_parallel_and_keep_their_state() {
    let start = Instant::now();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(|| {
                let sleeper = f("sleeper");
                (1..=3)
                    .map(|_| backend().call(&sleeper, &mut [Arg::Str("0.5")], Ignore).map(|_| ()))
                    .collect::<Result<Vec<_>, _>>()
                    .unwrap();
                // threading.local state is per thread and kept across calls.
                let calls = backend().call(&f("sleeper"), &mut [Arg::Str("0")], I64).unwrap();
                assert_eq!(calls, 4);
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    // Serial would be 3 s; threads ended cleanly (threading.local used).
    assert!(start.elapsed() < Duration::from_millis(2500), "{:?}", start.elapsed());
}

#[test]
fn per_call_cost() {
    let noop = f("noop");
    let h = backend().call_keep(&f("make_handle"), &mut []).unwrap();
    let mut mem = vec![0u8; 4096];
    let n = 20_000;
    let t = Instant::now();
    for i in 0..n {
        backend()
            .call(&noop, &mut [Arg::Object(&h), Arg::BytesMut(&mut mem), Arg::Int(i * 4096), Arg::Int(0)], Ignore)
            .unwrap();
    }
    eprintln!("per-call cost: {:.2} us for pread(h, 4 KiB view, offset, flags)", t.elapsed().as_secs_f64() * 1e6 / n as f64);
}
