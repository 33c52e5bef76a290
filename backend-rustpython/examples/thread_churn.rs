//! Heap use over many short-lived threads that each call into the script
//! (open, one 512-byte pread, close), as nbdkit's per-connection threads
//! do. Prints glibc's count of allocated bytes (mallinfo2) before and
//! after: it should not grow with the number of threads.
//!
//! ```text
//! cargo build --release -p backend-rustpython --example thread_churn
//! target/release/examples/thread_churn 10000
//! ```

use std::sync::OnceLock;

use backend_rustpython::RustPython;
use nbdkit_plugin::backend::{Arg, Global, Ignore, MainScript, ModuleSpec, ScriptBackend, StartOptions};

static MODULE: ModuleSpec = ModuleSpec { name: "nbdkit", doc: "", functions: &[], constants: &[] };

const SCRIPT: &str = "
disk = bytearray(1 << 20)
def open(readonly):
    return 1
def pread(h, buf, offset, flags):
    buf[:] = disk[offset:offset + len(buf)]
";

fn allocated() -> usize {
    // SAFETY: mallinfo2 only reads the allocator's counters.
    unsafe { libc::mallinfo2().uordblks }
}

fn main() {
    let n: usize = std::env::args().nth(1).map_or(10_000, |s| s.parse().expect("thread count"));
    static B: OnceLock<RustPython> = OnceLock::new();
    let b = B.get_or_init(|| RustPython::start(StartOptions { module: &MODULE, bootstrap: "" }).expect("start"));
    b.run_main(&MainScript { source: SCRIPT.as_bytes(), path: "churn.py", argv: &[], search_dir: None }).expect("run");
    let f = |name: &str| match b.callable(name) {
        Global::Callable(f) => f,
        _ => panic!("{name} is not a callable"),
    };
    let (open, pread) = (f("open"), f("pread"));
    let one = || {
        std::thread::scope(|s| {
            s.spawn(|| {
                let h = b.call_keep(&open, &mut [Arg::Bool(false)]).expect("open");
                let mut mem = [0u8; 512];
                b.call(&pread, &mut [Arg::Object(&h), Arg::BytesMut(&mut mem), Arg::Int(0), Arg::Int(0)], Ignore)
                    .expect("pread");
                b.release(h);
            });
        })
    };
    // Warm up: caches and the allocator's arenas settle.
    (0..200).for_each(|_| one());
    let before = allocated();
    (0..n).for_each(|_| one());
    let after = allocated();
    println!("{n} threads: heap {before} -> {after} bytes ({:+.1} bytes per thread)", (after as f64 - before as f64) / n as f64);
}
