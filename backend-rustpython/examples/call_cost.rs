//! The backend's cost per call, without nbdkit: runs a script and calls
//! its `pread(h, buf, offset, flags)` or `pwrite(...)` in a loop, as the
//! plugin does for each request. For profiling the call path:
//!
//! ```text
//! cargo build --release -p backend-rustpython --example call_cost
//! valgrind --tool=callgrind --toggle-collect='call_cost::run_loop*' \
//!     target/release/examples/call_cost SCRIPT pread 4096 2000
//! ```

use std::hint::black_box;
use std::time::Instant;

use backend_rustpython::{Kept, RustPython};
use nbdkit_plugin::backend::{Arg, Global, Ignore, MainScript, ModuleSpec, ScriptBackend, StartOptions};

static MODULE: ModuleSpec = ModuleSpec { name: "nbdkit", doc: "", functions: &[], constants: &[("THREAD_MODEL_PARALLEL", 3)] };

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, script, callback, size, count] = &args[..] else {
        eprintln!("usage: call_cost SCRIPT pread|pwrite BYTES COUNT");
        std::process::exit(2);
    };
    let (size, count): (usize, u64) = (size.parse().expect("BYTES"), count.parse().expect("COUNT"));
    let b = RustPython::start(StartOptions { module: &MODULE, bootstrap: "" }).expect("start");
    let source = std::fs::read(script).expect("read script");
    let argv = [script.clone()];
    b.run_main(&MainScript { source: &source, path: script, argv: &argv, search_dir: None })
        .unwrap_or_else(|e| panic!("{}", e.render()));
    let f = |name: &str| match b.callable(name) {
        Global::Callable(f) => f,
        _ => panic!("{name} is not a callable"),
    };
    let h = b.call_keep(&f("open"), &mut [Arg::Bool(false)]).expect("open");
    let cb = f(callback);
    let mut mem = vec![0u8; size];
    let t = Instant::now();
    run_loop(&b, &cb, &h, &mut mem, callback == "pwrite", count);
    let secs = t.elapsed().as_secs_f64();
    eprintln!("{callback} {size} B: {:.2} us per call, {:.0} MB/s", secs * 1e6 / count as f64, (size as f64 * count as f64) / secs / 1e6);
}

#[inline(never)]
fn run_loop(b: &RustPython, cb: &Kept, h: &Kept, mem: &mut [u8], write: bool, count: u64) {
    let span = 256 << 20;
    for i in 0..count {
        let offset = (i * mem.len() as u64) % (span - mem.len() as u64);
        let buf = if write { Arg::Bytes(mem) } else { Arg::BytesMut(mem) };
        black_box(b.call(cb, &mut [Arg::Object(h), buf, Arg::Int(offset as i64), Arg::Int(0)], Ignore)).expect("call");
    }
}
