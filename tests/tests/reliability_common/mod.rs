//! Helpers shared by `reliability.rs` and `reliability_soak.rs`, and the
//! scenarios both run (at different sizes): data integrity, resources over
//! many requests and connections, signals.
#![allow(dead_code)]

use conformance::*;
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Shared helpers

/// Which interpreter a variant runs (the reference is CPython).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Imp {
    CPython,
    RustPython,
}

pub fn implementation(v: &Variant) -> Imp {
    static CACHE: Mutex<Option<HashMap<PathBuf, Imp>>> = Mutex::new(None);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let map = cache.get_or_insert_with(HashMap::new);
    *map.entry(v.plugin().to_path_buf()).or_insert_with(|| {
        if v.dump_plugin().contains("python_implementation=RustPython") {
            Imp::RustPython
        } else {
            Imp::CPython
        }
    })
}

/// The signal that ended a process, if one did.
pub fn signal_of(status: ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt as _;
    status.signal()
}

/// nbdkit's pid, from the pid file `Nbdkit::start` asks for.
pub fn nbdkit_pid(dir: &Dir) -> u32 {
    let text = dir.read("nbdkit.pid");
    text.trim().parse().unwrap_or_else(|e| panic!("nbdkit.pid {text:?}: {e}"))
}

/// The part of `log` after the line that ends with `marker`, up to the next
/// line containing `next` (or the end).
pub fn log_section<'a>(log: &'a str, marker: &str, next: &str) -> Option<&'a str> {
    let start = log.find(&format!("{marker}\n"))? + marker.len() + 1;
    let rest = &log[start..];
    Some(match rest.find(next) {
        Some(end) => &rest[..end],
        None => rest,
    })
}

/// What one variant's run of a catalogue found: failures fail the test,
/// known bugs and rows are printed.
#[derive(Default)]
pub struct Report {
    pub failures: Vec<String>,
    pub known_bugs: Vec<String>,
    pub fixed_bugs: Vec<String>,
}

impl Report {
    /// Record the result of checking one case; `bug` marks a known bug of ours.
    pub fn check(&mut self, v: &Variant, id: &str, problems: Vec<String>, bug: Option<&str>) {
        match (problems.is_empty(), bug) {
            (true, None) => {}
            (true, Some(b)) => self.fixed_bugs.push(format!("[{v}] {id}: passes now; remove the BUG marker ({b})")),
            (false, Some(b)) => self.known_bugs.push(format!("[{v}] {id}: KNOWN BUG ({b}): {}", problems.join("; "))),
            (false, None) => self.failures.push(format!("[{v}] {id}: {}", problems.join("; "))),
        }
    }

    pub fn finish(self, log_tail: &str) {
        for b in &self.known_bugs {
            println!("{b}");
        }
        for b in &self.fixed_bugs {
            println!("NOTE: {b}");
        }
        assert!(
            self.failures.is_empty(),
            "{} case(s) failed:\n{}\n--- nbdkit log (tail):\n{log_tail}",
            self.failures.len(),
            self.failures.join("\n")
        );
    }
}

/// Python string literal of `s` (JSON's escaping is valid Python).
pub fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Runs `code` with Debian's python3 (libnbd's `nbd` module); `SOCK` is
/// the socket. For servers not started by [`Nbdkit::start`].
pub fn py_client(dir: &Dir, sock: &Path, code: &str) -> Run {
    let file = dir.write(
        &format!("client-{}.py", Instant::now().elapsed().as_nanos()),
        format!("import os, sys, time\nimport nbd\nSOCK = {}\n{}", json_str(&sock.display().to_string()), dedent(code)),
    );
    let mut cmd = tool("/usr/bin/python3");
    cmd.arg(file).current_dir(dir.path());
    run_in(dir.path(), &mut cmd, RUN_TIMEOUT)
}

/// An nbdkit that daemonized (no `-f`): killed by pid on drop.
pub struct Daemon {
    pub pid: i32,
    pub sock: PathBuf,
    pub log: PathBuf,
}

impl Daemon {
    /// `nbdkit -v -U SOCK -P PIDFILE PLUGIN SCRIPT`, which forks into the
    /// background once ready; waits for the pid file and the socket.
    pub fn start(v: &Variant, dir: &Dir, parts: &[&str]) -> Daemon {
        let nb = Nbdkit::new(v, dir, parts);
        let script = nb.write_script();
        let sock = dir.join("daemon.sock");
        let pidfile = dir.join("daemon.pid");
        let log = dir.join("daemon.log");
        let mut cmd = tool("nbdkit");
        cmd.arg("-v")
            .arg("-U")
            .arg(&sock)
            .arg("-P")
            .arg(&pidfile)
            .args(nb.plugin_args(&script))
            .env("CONFORMANCE_RECORD", dir.join("record.txt"))
            .current_dir(dir.path())
            .stdout(fs::File::create(&log).expect("create daemon.log"))
            .stderr(fs::OpenOptions::new().append(true).open(&log).expect("open daemon.log"));
        let mut parent = cmd.spawn().expect("start nbdkit");
        let deadline = Instant::now() + Duration::from_secs(90);
        let status = loop {
            if let Some(s) = parent.try_wait().expect("try_wait") {
                break s;
            }
            assert!(Instant::now() < deadline, "[{v}] nbdkit did not daemonize within 90 s");
            thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "[{v}] nbdkit failed to start: {status}\n{}", fs::read_to_string(&log).unwrap_or_default());
        loop {
            let pid = fs::read_to_string(&pidfile).ok().and_then(|s| s.trim().parse().ok());
            if let (Some(pid), true) = (pid, sock.exists()) {
                return Daemon { pid, sock, log };
            }
            assert!(Instant::now() < deadline, "[{v}] no pid file or socket after 90 s");
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn alive(&self) -> bool {
        Path::new(&format!("/proc/{}", self.pid)).exists()
            && !fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap_or_default().contains(") Z ")
    }

    /// SIGTERM, then wait up to `timeout` for the process to go.
    pub fn stop(&self, timeout: Duration) -> bool {
        signal(self.pid, libc_sig::SIGTERM);
        let deadline = Instant::now() + timeout;
        while self.alive() {
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(50));
        }
        true
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.alive() {
            signal(self.pid, libc_sig::SIGKILL);
        }
    }
}

pub mod libc_sig {
    pub const SIGINT: i32 = 2;
    pub const SIGKILL: i32 = 9;
    pub const SIGTERM: i32 = 15;
}

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

pub fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is an
    // nbdkit this test started.
    unsafe {
        kill(pid, sig);
    }
}

// ---------------------------------------------------------------------------
// 3. Data integrity

/// A RAM disk of `DISK_SIZE` bytes (environment), parallel, multi-conn:
/// the script `fio`, `qemu-img` and `nbdcopy` write to and read back.
pub const RAMDISK: &str = "
API_VERSION = 2
SIZE = int(os.environ['DISK_SIZE'])
disk = bytearray(SIZE)
def thread_model():
    return nbdkit.THREAD_MODEL_PARALLEL
def open(readonly):
    return 1
def get_size(h):
    return SIZE
def can_multi_conn(h):
    return True
def can_fua(h):
    return nbdkit.FUA_NATIVE
def pread(h, buf, offset, flags):
    buf[:] = disk[offset:offset + len(buf)]
def pwrite(h, buf, offset, flags):
    disk[offset:offset + len(buf)] = buf
def flush(h, flags):
    pass
def zero(h, count, offset, flags):
    disk[offset:offset + count] = bytes(count)
def trim(h, count, offset, flags):
    zero(h, count, offset, flags)
";

pub const MIB: u64 = 1024 * 1024;

/// `size` pseudo-random bytes from `seed` (xorshift64*), written to `path`.
pub fn random_file(path: &Path, size: u64, seed: u64) {
    let mut x = seed | 1;
    let mut data = Vec::with_capacity(size as usize);
    while (data.len() as u64) < size {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        data.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    data.truncate(size as usize);
    fs::write(path, data).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn same_file(a: &Path, b: &Path) -> Result<(), String> {
    let (x, y) = (fs::read(a).map_err(|e| e.to_string())?, fs::read(b).map_err(|e| e.to_string())?);
    if x.len() != y.len() {
        return Err(format!("{} has {} bytes, {} has {}", a.display(), x.len(), b.display(), y.len()));
    }
    match x.iter().zip(&y).position(|(p, q)| p != q) {
        None => Ok(()),
        Some(i) => Err(format!("{} and {} differ first at byte {i}", a.display(), b.display())),
    }
}

fn ramdisk<'a>(v: &'a Variant, dir: &'a Dir, size: u64) -> Server {
    Nbdkit::new(v, dir, &[RAMDISK]).env("DISK_SIZE", &size.to_string()).start()
}

/// fio, 4 jobs (4 connections), each writing its own quarter of the disk
/// with random block sizes and then verifying it with crc32c.
pub fn integrity_fio(v: &Variant, size: u64, loops: u32) {
    let dir = Dir::new();
    let srv = ramdisk(v, &dir, size);
    let quarter = size / 4;
    let t = Instant::now();
    let out = srv.tool_ok(
        "fio",
        &[
            "--name=integrity",
            "--ioengine=nbd",
            &format!("--uri={}", srv.uri()),
            "--rw=randwrite",
            "--bsrange=512-128k",
            "--blockalign=512",
            &format!("--size={quarter}"),
            &format!("--offset_increment={quarter}"),
            "--numjobs=4",
            "--iodepth=8",
            &format!("--loops={loops}"),
            "--verify=crc32c",
            "--do_verify=1",
            "--verify_fatal=1",
            "--verify_dump=0",
            "--group_reporting",
        ],
    );
    for bad in ["verify: bad", "crc32c: verify failed", "bad magic", "bad header"] {
        assert!(!out.contains(bad), "[{v}] fio reports {bad:?}:\n{}", tail(&out, 30));
    }
    assert!(out.contains("err= 0"), "[{v}] fio reported errors:\n{}", tail(&out, 30));
    println!("[{v}] fio: {} MiB x {loops} written and verified (crc32c) by 4 jobs in {:.1} s", size / MIB, t.elapsed().as_secs_f64());
    let (status, _) = srv.stop();
    assert!(status.success(), "[{v}] nbdkit exit status {status}");
}

/// `qemu-img convert` of a random image into the plugin and back, and the
/// same with `nbdcopy` (several connections, requests in parallel).
pub fn integrity_copy(v: &Variant, size: u64) {
    let dir = Dir::new();
    let srv = ramdisk(v, &dir, size);
    let uri = srv.uri();
    let src = dir.join("src.img");
    random_file(&src, size, 0x5eed_0001);
    let t = Instant::now();
    srv.tool_ok("qemu-img", &["convert", "-n", "-f", "raw", "-O", "raw", &src.display().to_string(), &uri]);
    let back = dir.join("back.img");
    srv.tool_ok("qemu-img", &["convert", "-f", "raw", "-O", "raw", &uri, &back.display().to_string()]);
    if let Err(e) = same_file(&src, &back) {
        srv.fail(&format!("qemu-img round trip: {e}"));
    }
    println!("[{v}] qemu-img convert: {} MiB in and out, identical ({:.1} s)", size / MIB, t.elapsed().as_secs_f64());
    let src2 = dir.join("src2.img");
    random_file(&src2, size, 0x5eed_0002);
    let t = Instant::now();
    srv.tool_ok("nbdcopy", &[&src2.display().to_string(), &uri]);
    let back2 = dir.join("back2.img");
    srv.tool_ok("nbdcopy", &[&uri, &back2.display().to_string()]);
    if let Err(e) = same_file(&src2, &back2) {
        srv.fail(&format!("nbdcopy round trip: {e}"));
    }
    println!("[{v}] nbdcopy: {} MiB in and out, identical ({:.1} s)", size / MIB, t.elapsed().as_secs_f64());
    for f in [src, back, src2, back2] {
        let _ = fs::remove_file(f);
    }
    let (status, _) = srv.stop();
    assert!(status.success(), "[{v}] nbdkit exit status {status}");
}

// ---------------------------------------------------------------------------
// 4. Resources

/// nbdkit's resident memory (KiB) and open descriptors.
#[derive(Clone, Copy, Debug)]
pub struct Usage {
    pub rss_kib: i64,
    pub fds: i64,
}

pub fn usage(pid: u32) -> Usage {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"));
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"));
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0) as i64;
    Usage { rss_kib, fds }
}

/// The usage once the descriptor count is back to `fds` (connections are
/// closed by nbdkit after the client leaves), or after 30 s.
fn settled(pid: u32, fds: i64) -> Usage {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let u = usage(pid);
        if u.fds <= fds || Instant::now() >= deadline {
            // A moment more for the last connection's threads to go.
            thread::sleep(Duration::from_millis(300));
            return usage(pid);
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Client: `N` requests (reads, writes, zeroes, flushes of up to 64 KiB at
/// random offsets of a 1 MiB disk), 32 in flight, on one connection.
const MANY_REQUESTS: &str = "
import random
N = int(sys.argv[1])
h = connect()
rnd = random.Random(N)
size = h.get_size()
data = nbd.Buffer.from_bytearray(bytearray(b'r' * 65536))
bufs = [nbd.Buffer(65536) for i in range(32)]
issued = 0
while issued < N or h.aio_in_flight() > 0:
    while issued < N and h.aio_in_flight() < 32:
        n = rnd.choice([512, 4096, 65536])
        off = rnd.randrange(0, size - n, 512)
        op = rnd.randrange(20)
        if op < 9:
            h.aio_pread(bufs[issued % 32], off) if n == 65536 else h.aio_pread(nbd.Buffer(n), off)
        elif op < 18:
            h.aio_pwrite(data if n == 65536 else nbd.Buffer.from_bytearray(bytearray(n)), off)
        elif op == 18:
            h.aio_zero(n, off)
        else:
            h.aio_flush()
        issued += 1
    h.poll(-1)
h.shutdown()
print('done', issued)
";

/// Client: `N` connections, one after the other, each reading once.
const MANY_CONNECTIONS: &str = "
N = int(sys.argv[1])
for i in range(N):
    h = connect()
    h.pread(512, (i * 512) % (1024 * 1024))
    h.shutdown()
    del h
print('done', N)
";

fn run_client(srv: &Server, code: &str, n: u64) {
    srv.py(&format!("sys.argv = ['', '{n}']\n{code}"));
}

/// Resident memory and descriptors of nbdkit stay flat over `n` requests
/// (after `warmup`): RSS may grow by at most `rss_bound_kib`, descriptors
/// not at all once the connection is closed. Returns (RSS growth KiB, fd
/// growth) for the record.
pub fn resources_over_requests(v: &Variant, warmup: u64, n: u64, rss_bound_kib: i64) -> (i64, i64) {
    resources(v, MANY_REQUESTS, "requests", warmup, n, rss_bound_kib)
}

/// As [`resources_over_requests`], over `n` connect/read/disconnect cycles.
pub fn resources_over_connections(v: &Variant, warmup: u64, n: u64, rss_bound_kib: i64) -> (i64, i64) {
    resources(v, MANY_CONNECTIONS, "connections", warmup, n, rss_bound_kib)
}

fn resources(v: &Variant, client: &str, what: &str, warmup: u64, n: u64, rss_bound_kib: i64) -> (i64, i64) {
    let dir = Dir::new();
    let srv = ramdisk(v, &dir, MIB);
    let pid = nbdkit_pid(&dir);
    let idle = usage(pid);
    run_client(&srv, client, warmup);
    let before = settled(pid, idle.fds);
    let t = Instant::now();
    run_client(&srv, client, n);
    let after = settled(pid, idle.fds);
    let secs = t.elapsed().as_secs_f64();
    let rss = after.rss_kib - before.rss_kib;
    let fds = after.fds - before.fds;
    println!(
        "[{v}] {n} {what} after {warmup} warm-up ({secs:.1} s): RSS {} -> {} KiB ({rss:+} KiB), fds {} -> {} ({fds:+}); idle before warm-up: RSS {} KiB, {} fds",
        before.rss_kib, after.rss_kib, before.fds, after.fds, idle.rss_kib, idle.fds
    );
    assert!(fds <= 0, "[{v}] {fds} more descriptors after {n} {what} (connections closed)");
    assert!(rss <= rss_bound_kib, "[{v}] RSS grew by {rss} KiB over {n} {what}, bound {rss_bound_kib} KiB");
    let (status, _) = srv.stop();
    assert!(status.success(), "[{v}] nbdkit exit status {status}");
    (rss, fds)
}

// ---------------------------------------------------------------------------
// 5. Signals

/// Requests that sleep 2 s, each marking its start and end; `cleanup`, `unload`
/// (ours only) and an `atexit` handler leave marker files.
const SLOW_WITH_MARKERS: &str = "
import atexit
API_VERSION = 2
MARKS = os.path.dirname(os.environ['CONFORMANCE_RECORD'])
def mark(name):
    with builtins.open(os.path.join(MARKS, name), 'a') as f:
        f.write('%d\\n' % os.getpid())
atexit.register(mark, 'atexit.mark')
def thread_model():
    return nbdkit.THREAD_MODEL_PARALLEL
def open(readonly):
    return 1
def get_size(h):
    return 1024 * 1024
def pread(h, buf, offset, flags):
    mark('pread-start.mark')
    time.sleep(2)
    buf[:] = bytes(len(buf))
    mark('pread-end.mark')
def cleanup():
    mark('cleanup.mark')
def unload():
    mark('unload.mark')
";

/// `sig` while four 2-second reads are in flight: nbdkit finishes them
/// and exits 0 within 30 s; cleanup and the atexit handler run.
pub fn signal_during_requests(v: &Variant, sig: i32) {
    let dir = Dir::new();
    let mut srv = Nbdkit::new(v, &dir, &[SLOW_WITH_MARKERS]).start();
    let pid = nbdkit_pid(&dir) as i32;
    let client = {
        let code = "
            bufs = [nbd.Buffer(512) for i in range(4)]
            h = connect()
            for i, b in enumerate(bufs):
                h.aio_pread(b, i * 512)
            try:
                while h.aio_in_flight() > 0:
                    h.poll(-1)
                print('completed')
            except nbd.Error as e:
                print('client:', e)
            ";
        let sock = srv.sock.clone();
        let dir_path = dir.path().to_path_buf();
        thread::spawn(move || {
            let file = dir_path.join("slow-client.py");
            fs::write(&file, format!("import os, sys, time\nimport nbd\nSOCK = {}\ndef connect():\n    h = nbd.NBD()\n    h.connect_unix(SOCK)\n    return h\n{}", json_str(&sock.display().to_string()), dedent(code))).expect("write client");
            let mut cmd = tool("/usr/bin/python3");
            cmd.arg(file);
            run_in(&dir_path, &mut cmd, RUN_TIMEOUT)
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while dir.read("pread-start.mark").lines().count() < 4 {
        if Instant::now() >= deadline {
            srv.fail("the four reads never started");
        }
        thread::sleep(Duration::from_millis(20));
    }
    let t = Instant::now();
    signal(pid, sig);
    let status = srv.wait_exit(Duration::from_secs(30));
    let secs = t.elapsed().as_secs_f64();
    let client = client.join().expect("client thread");
    let marks: Vec<&str> = ["pread-end.mark", "cleanup.mark", "atexit.mark", "unload.mark"]
        .into_iter()
        .filter(|m| dir.join(m).exists())
        .collect();
    println!("[{v}] signal {sig}: nbdkit exited with {status} after {secs:.1} s; markers {marks:?}; client: {}", client.stdout.trim());
    assert!(signal_of(status).is_none() && status.code() == Some(0), "[{v}] exit status {status} after signal {sig}, wanted 0");
    let mut want = vec!["cleanup.mark", "atexit.mark"];
    if !v.is_reference() {
        // The reference never calls unload().
        want.push("unload.mark");
    }
    for m in want {
        assert!(marks.contains(&m), "[{v}] no {m} after signal {sig}: {marks:?}");
    }
}

// ---------------------------------------------------------------------------
// 6a. valgrind

/// What memcheck found in one process.
#[derive(Debug, Default)]
pub struct Memcheck {
    /// Every error block, as text.
    pub errors: Vec<String>,
    /// "Invalid read" / "Invalid write" blocks.
    pub invalid: Vec<String>,
    /// Blocks with a frame in our plugin's code.
    pub ours: Vec<String>,
    /// Leak blocks ("definitely lost") with a frame in our code.
    pub our_leaks: Vec<String>,
    pub summary: String,
}

/// Frames that belong to our plugin: its crates' symbols or its file.
fn is_our_frame(line: &str) -> bool {
    ["nbdkit_python_plugin", "nbdkit_plugin::", "backend_cpython", "plugin-python/", "nbdkit-plugin/src", "backend-cpython/src", "nbdkit-python-plugin.so"]
        .iter()
        .any(|m| line.contains(m))
        && !line.contains("/usr/lib/x86_64-linux-gnu/nbdkit/plugins/")
}

/// Parses a memcheck log (`--log-file`).
pub fn parse_memcheck(log: &str) -> Memcheck {
    let mut m = Memcheck::default();
    let mut block: Vec<&str> = Vec::new();
    let body = |l: &str| -> String { l.split_once("== ").map(|(_, r)| r.to_string()).unwrap_or_default() };
    for line in log.lines().chain(std::iter::once("==0== ")) {
        let text = body(line);
        if text.trim().is_empty() {
            if let Some(first) = block.first() {
                let first = body(first);
                let joined = block.iter().map(|l| body(l)).collect::<Vec<_>>().join("\n");
                let is_error = first.starts_with("Invalid ")
                    || first.starts_with("Conditional jump")
                    || first.starts_with("Use of uninitialised")
                    || first.starts_with("Syscall param")
                    || first.starts_with("Mismatched free")
                    || first.starts_with("Source and destination overlap")
                    || first.contains("invalid free")
                    || first.starts_with("Argument 'size'");
                let ours = block.iter().skip(1).any(|l| is_our_frame(l));
                if is_error {
                    if first.starts_with("Invalid read") || first.starts_with("Invalid write") {
                        m.invalid.push(joined.clone());
                    }
                    if ours {
                        m.ours.push(joined.clone());
                    }
                    m.errors.push(joined);
                } else if first.contains("definitely lost in loss record")
                    && ours
                    && !INTENTIONAL_LEAKS.iter().any(|site| joined.contains(site))
                {
                    m.our_leaks.push(joined);
                }
            }
            block.clear();
        } else {
            block.push(line);
        }
    }
    m.summary = log.lines().find_map(|l| l.split_once("ERROR SUMMARY: ")).map(|(_, r)| r.to_string()).unwrap_or_default();
    m
}

/// Allocations our code leaks on purpose, once: the `nbdkit` module's
/// method table (names and docs as C strings) must outlive the interpreter,
/// which no longer references it after `Py_FinalizeEx`.
const INTENTIONAL_LEAKS: &[&str] = &["backend_cpython::module::install"];

/// Client for the valgrind run: every kind of request, errors, a kept
/// buffer, several connections.
const VALGRIND_CLIENT: &str = "
h = connect()
h.pwrite(b'v' * 65536, 0)
assert h.pread(65536, 0) == b'v' * 65536
h.pwrite(b'w' * 512, 4096, nbd.CMD_FLAG_FUA)
h.zero(4096, 8192)
h.trim(4096, 16384)
h.flush()
h.cache(4096, 0)
got = []
h.block_status(65536, 0, lambda ctx, off, e, err: got.append(e) or 0)
assert got
for off in (1 << 20, (1 << 20) + 512):
    try:
        h.pread(512, off)
        raise AssertionError('no error')
    except nbd.Error as e:
        pass
h.pread(512, 512 * 3)   # the script keeps this view
h.pread(512, 512 * 5)   # ... and finds it released here
for i in range(5):
    c = connect()
    c.pread(4096, i * 4096)
    c.shutdown()
h.shutdown()
print('valgrind client done')
";

const VALGRIND_SCRIPT: &str = "
API_VERSION = 2
DISK = bytearray(2 * 1024 * 1024)
KEPT = []
def thread_model():
    return nbdkit.THREAD_MODEL_PARALLEL
def open(readonly):
    return {}
def get_size(h):
    return len(DISK)
def can_cache(h):
    return nbdkit.CACHE_NATIVE
def can_fua(h):
    return nbdkit.FUA_NATIVE
def pread(h, buf, offset, flags):
    if offset == 512 * 3:
        KEPT.append(buf)
    if offset == 512 * 5:
        try:
            KEPT.pop()[0:1] = b'x'
        except ValueError:
            pass
    if offset >= 1 << 20:
        nbdkit.set_error(errno.EIO if offset & 512 else errno.ENOSPC)
        raise RuntimeError('failing on purpose')
    buf[:] = DISK[offset:offset + len(buf)]
def pwrite(h, buf, offset, flags):
    DISK[offset:offset + len(buf)] = buf
def zero(h, count, offset, flags):
    DISK[offset:offset + count] = bytes(count)
def trim(h, count, offset, flags):
    zero(h, count, offset, flags)
def flush(h, flags):
    pass
def cache(h, count, offset, flags):
    pass
def extents(h, count, offset, flags):
    return [(offset, count // 2, 0), (offset + count // 2, count - count // 2, 3)]
";

/// nbdkit with our plugin under `valgrind --tool=memcheck`
/// (PYTHONMALLOC=malloc, `tests/valgrind/python.supp`), driven by
/// `rounds` runs of [`VALGRIND_CLIENT`]. Fails on any "Invalid read" or
/// "Invalid write", any error report with a frame in our code, and any
/// definitely lost block allocated by our code.
pub fn valgrind_memcheck(v: &Variant, rounds: usize) {
    let dir = Dir::new();
    let nb = Nbdkit::new(v, &dir, &[VALGRIND_SCRIPT]);
    let script = nb.write_script();
    let sock = dir.join("vg.sock");
    let pidfile = dir.join("vg.pid");
    let supp = workspace_root().join("tests/valgrind/python.supp");
    let mut cmd = tool("valgrind");
    cmd.args(["--tool=memcheck", "--num-callers=40", "--leak-check=full", "--errors-for-leak-kinds=definite"])
        .arg(format!("--suppressions={}", supp.display()))
        .arg(format!("--log-file={}", dir.join("valgrind.%p.log").display()))
        .args(["nbdkit", "-f", "-U"])
        .arg(&sock)
        .arg("-P")
        .arg(&pidfile)
        .args(nb.plugin_args(&script))
        .env("PYTHONMALLOC", "malloc")
        .env("CONFORMANCE_RECORD", dir.join("record.txt"))
        .current_dir(dir.path())
        .stdout(fs::File::create(dir.join("nbdkit.out")).expect("create"))
        .stderr(fs::File::create(dir.join("nbdkit.err")).expect("create"));
    let t = Instant::now();
    let mut child = cmd.spawn().expect("start valgrind");
    let deadline = Instant::now() + Duration::from_secs(300);
    while !(pidfile.exists() && sock.exists()) {
        if let Some(s) = child.try_wait().expect("try_wait") {
            panic!("[{v}] nbdkit under valgrind exited at start-up: {s}\n{}", dir.read("nbdkit.err"));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("[{v}] nbdkit under valgrind not ready after 300 s");
        }
        thread::sleep(Duration::from_millis(100));
    }
    let started = t.elapsed().as_secs_f64();
    for _ in 0..rounds {
        let run = py_client(&dir, &sock, &format!("def connect():\n    h = nbd.NBD()\n    h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)\n    h.connect_unix(SOCK)\n    return h\n{}", dedent(VALGRIND_CLIENT)));
        if !run.success() {
            let _ = child.kill();
            panic!("[{v}] client under valgrind failed: {run}\n{}", tail(&dir.read("nbdkit.err"), 30));
        }
    }
    signal(child.id() as i32, libc_sig::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("[{v}] nbdkit under valgrind did not exit within 300 s of SIGTERM");
        }
        thread::sleep(Duration::from_millis(100));
    };
    let log = fs::read_to_string(dir.join(&format!("valgrind.{}.log", child.id()))).unwrap_or_default();
    let m = parse_memcheck(&log);
    println!(
        "[{v}] valgrind: start-up {started:.1} s, total {:.1} s, exit {status}; ERROR SUMMARY: {} ({} error reports after suppressions, {} invalid read/write, {} in our code, {} leaks from our code)",
        t.elapsed().as_secs_f64(),
        m.summary,
        m.errors.len(),
        m.invalid.len(),
        m.ours.len(),
        m.our_leaks.len()
    );
    assert!(!m.summary.is_empty(), "[{v}] no valgrind summary; log:\n{}", tail(&log, 40));
    let show = |v: &[String]| v.iter().take(3).cloned().collect::<Vec<_>>().join("\n---\n");
    assert!(m.invalid.is_empty(), "[{v}] invalid reads/writes:\n{}", show(&m.invalid));
    assert!(m.ours.is_empty(), "[{v}] errors with frames in our code:\n{}", show(&m.ours));
    assert!(m.our_leaks.is_empty(), "[{v}] memory definitely lost from our code:\n{}", show(&m.our_leaks));
    assert!(signal_of(status).is_none(), "[{v}] nbdkit under valgrind killed by a signal: {status}");
}
