//! The scripts in `examples/`, served as they are, driven by real clients;
//! the `nbdkit` type stubs (`python/nbdkit.pyi`) and the stand-in module
//! (`python/standin`) checked against the module the plugin really gives.

use conformance::*;
use std::fs;
use std::path::{Path, PathBuf};

const MIB: usize = 1024 * 1024;

/// The text of `examples/NAME`.
fn example(name: &str) -> String {
    let path = workspace_root().join("examples").join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// `examples/NAME`, copied unchanged into the scenario directory and served.
fn serve<'a>(v: &'a Variant, dir: &'a Dir, name: &str) -> Nbdkit<'a> {
    Nbdkit::new(v, dir, &[&example(name)]).raw().script_name(name)
}

/// `path` as a Python string literal.
fn py_str(path: &Path) -> String {
    format!("{:?}", path.display().to_string())
}

/// Runs a command in the scenario directory; it must succeed.
fn run_ok(dir: &Dir, program: &str, args: &[&str]) -> Run {
    let mut cmd = tool(program);
    cmd.args(args).current_dir(dir.path());
    run_in(dir.path(), &mut cmd, RUN_TIMEOUT).ok()
}

/// Some data that is neither zero nor repeats on block boundaries.
fn data(len: usize, seed: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 7 + seed) % 251) as u8).collect()
}

// ---------------------------------------------------------------------------
// ramdisk.py

#[test]
fn ramdisk_write_read_round_trip() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = serve(v, &dir, "ramdisk.py").start();
        srv.py(
            "
            MiB = 1024 * 1024
            h = connect()
            eq(h.get_size(), 64 * MiB, 'size')
            eq(caps(h), 'is_read_only=0 can_flush=1 can_fua=1 can_trim=1 can_zero=1 '
                        'can_fast_zero=0 can_cache=0 is_rotational=0 can_multi_conn=1', 'caps')
            eq(h.pread(4096, 0), bytes(4096), 'a new disk reads zero')
            data = bytes(range(256)) * 4096
            h.pwrite(data, 3 * MiB + 7)
            eq(h.pread(len(data), 3 * MiB + 7) == data, True, 'read back')
            # One disk for every connection.
            h2 = connect()
            eq(h2.pread(len(data), 3 * MiB + 7) == data, True, 'second connection sees the write')
            h.zero(65536, 3 * MiB + 100)
            want = data[:93] + bytes(65536) + data[93 + 65536:]
            eq(h2.pread(len(data), 3 * MiB + 7) == want, True, 'zeroed range')
            h.trim(4096, 3 * MiB + 200000, nbd.CMD_FLAG_FUA)
            eq(h.pread(4096, 3 * MiB + 200000), bytes(4096), 'trimmed range reads zero')
            h.pwrite(b'end', 64 * MiB - 3, nbd.CMD_FLAG_FUA)
            h.flush()
            eq(h2.pread(3, 64 * MiB - 3), b'end', 'last bytes')
            ",
        );
        // A whole-disk copy in and out, many requests in flight.
        let src = dir.write("src.img", data(64 * MIB, 3));
        let out = dir.join("out.img");
        srv.tool_ok("nbdcopy", &["--requests=16", &src.display().to_string(), &srv.uri()]);
        srv.tool_ok("nbdcopy", &[&srv.uri(), &out.display().to_string()]);
        let got = fs::read(&out).expect("read out.img");
        assert!(got == fs::read(&src).expect("read src.img"), "[{v}] nbdcopy in and out changed the data");
    });
}

// ---------------------------------------------------------------------------
// file.py

/// Client code: `PUNCH` is whether this file system can punch holes.
const PUNCH_PROBE: &str = "
import ctypes, ctypes.util
def can_punch(dir):
    libc = ctypes.CDLL(ctypes.util.find_library('c'), use_errno=True)
    libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    path = os.path.join(dir, 'punch-probe')
    with open(path, 'wb') as f:
        f.write(b'x' * 65536)
        f.flush()
        ok = libc.fallocate(f.fileno(), 3, 0, 65536) == 0
    os.unlink(path)
    return ok
";

#[test]
fn file_serves_a_file() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let disk = dir.write("disk.img", data(4 * MIB, 0));
        let srv = serve(v, &dir, "file.py").arg(&format!("file={}", disk.display())).start();
        let code = format!(
            "
            MiB = 1024 * 1024
            path = {path}
            def on_disk(offset, count):
                with open(path, 'rb') as f:
                    f.seek(offset)
                    return f.read(count)
            h = connect()
            eq(h.get_size(), 4 * MiB, 'size')
            eq(caps(h), 'is_read_only=0 can_flush=1 can_fua=1 can_trim=1 can_zero=1 '
                        'can_fast_zero=1 can_cache=0 is_rotational=0 can_multi_conn=1', 'caps')
            # Reads land in nbdkit's buffer straight from the file (preadv):
            # check their bytes, at odd offsets and sizes.
            for off, n in [(0, 512), (1, 4095), (MiB - 3, 65536 + 5), (4 * MiB - 1, 1), (12345, 3 * MiB)]:
                eq(h.pread(n, off) == on_disk(off, n), True, 'pread(%d, %d)' % (n, off))
            # Writes reach the file.
            new = bytes(range(256)) * 1024
            h.pwrite(new, MiB + 3, nbd.CMD_FLAG_FUA)
            eq(on_disk(MiB + 3, len(new)) == new, True, 'the write is in the file')
            eq(h.pread(len(new), MiB + 3) == new, True, 'the write reads back')
            # No zero callback: nbdkit writes zeroes with pwrite (and so a
            # fast zero, which must not be slower than a write, fails at once).
            h.zero(8192, 2 * MiB + 100)
            eq(on_disk(2 * MiB + 100, 8192), bytes(8192), 'zeroed in the file')
            h.flush()
            # Trim punches a hole where the file system can.
            before = on_disk(3 * MiB, MiB)
            h.trim(MiB, 3 * MiB)
            if can_punch(os.path.dirname(path)):
                eq(on_disk(3 * MiB, MiB), bytes(MiB), 'trimmed range is a hole')
            else:
                eq(on_disk(3 * MiB, MiB) == before, True, 'trim kept the data')
            eq(os.path.getsize(path), 4 * MiB, 'trim kept the size')
            ",
            path = py_str(&disk),
        );
        srv.py(&format!("{PUNCH_PROBE}{}", dedent(&code)));
        let (status, log) = srv.stop();
        assert!(status.success(), "[{v}] nbdkit exited with {status}:\n{}", tail(&log, 40));

        // Read-only: the file is opened O_RDONLY and nbdkit refuses writes.
        let srv = serve(v, &dir, "file.py").opt("-r").arg(&format!("file={}", disk.display())).start();
        srv.py(
            "
            h = connect()
            eq(h.is_read_only(), 1, 'read-only')
            h.pread(4096, 0)
            ",
        );
    });
}

#[test]
fn file_requires_the_file_parameter() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let run = serve(v, &dir, "file.py").run(RUN_TIMEOUT).failed();
        assert!(run.stderr.contains("file=FILENAME is required"), "[{v}] {run}");
        let run = serve(v, &dir, "file.py").arg("file=x").arg("size=1").run(RUN_TIMEOUT).failed();
        assert!(run.stderr.contains("unknown parameter: size"), "[{v}] {run}");
    });
}

// ---------------------------------------------------------------------------
// sparse.py

#[test]
fn sparse_extents_show_holes_and_data() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = serve(v, &dir, "sparse.py").arg("size=16M").start();
        srv.py(
            "
            MiB, K64 = 1024 * 1024, 65536
            HOLE = nbd.STATE_HOLE | nbd.STATE_ZERO
            h = connect()
            eq(h.get_size(), 16 * MiB, 'size')
            eq(h.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION), True, 'base:allocation')
            def extents(count, offset, flags=0):
                out = []
                def cb(context, off, entries, err):
                    if context == nbd.CONTEXT_BASE_ALLOCATION:
                        out.extend(zip(entries[0::2], entries[1::2]))
                h.block_status(count, offset, cb, flags)
                return out
            eq(extents(16 * MiB, 0), [(16 * MiB, HOLE)], 'an empty disk is one hole')
            h.pwrite(b'x' * 100, MiB + 10)
            h.pwrite(bytes(K64), 5 * MiB)       # zeroes on a hole: still a hole
            h.pwrite(b'y', 8 * MiB + K64 - 1)
            eq(extents(16 * MiB, 0),
               [(MiB, HOLE), (K64, 0), (7 * MiB - K64, HOLE), (K64, 0), (8 * MiB - K64, HOLE)],
               'after writes')
            eq(extents(MiB, MiB - 100), [(100, HOLE), (K64, 0), (MiB - 100 - K64, HOLE)], 'unaligned')
            eq(extents(16 * MiB, 0, nbd.CMD_FLAG_REQ_ONE), [(MiB, HOLE)], 'REQ_ONE')
            eq(h.pread(120, MiB), bytes(10) + b'x' * 100 + bytes(10), 'data reads back')
            eq(h.pread(4096, 12 * MiB), bytes(4096), 'holes read zero')
            # nbdinfo --map sees the same.
            out = subprocess.check_output(['nbdinfo', '--map', URI], text=True)
            got = [tuple(int(w) for w in line.split()[:3]) for line in out.splitlines()]
            eq(got, [(0, MiB, 3), (MiB, K64, 0), (MiB + K64, 7 * MiB - K64, 3),
                     (8 * MiB, K64, 0), (8 * MiB + K64, 8 * MiB - K64, 3)], 'nbdinfo --map')
            # Zeroing a whole chunk, or the last data of one, frees it.
            h.zero(K64, MiB)
            h.trim(1, 8 * MiB + K64 - 1)
            eq(extents(16 * MiB, 0), [(16 * MiB, HOLE)], 'after zero and trim')
            ",
        );
    });
}

// ---------------------------------------------------------------------------
// exports.py

#[test]
fn exports_listed_and_opened_by_name() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = serve(v, &dir, "exports.py").start();
        srv.py(
            "
            out = json.loads(subprocess.check_output(['nbdinfo', '--list', '--json', URI]))
            got = [(e['export-name'], e.get('description'), e['export-size'], e['is_read_only'])
                   for e in out['exports']]
            eq(got, [('greeting', 'a short text, repeated', 19000, True),
                     ('pattern', '64 KiB where byte i is i % 256', 65536, True),
                     ('zeroes', '1 MiB of zeroes', 1048576, True)], 'nbdinfo --list')
            h = connect('pattern', full_info=True)
            eq(h.get_size(), 65536, 'pattern size')
            eq(h.get_export_description(), '64 KiB where byte i is i % 256', 'description')
            eq(h.pread(65536, 0) == bytes(range(256)) * 256, True, 'pattern content')
            h2 = connect('zeroes')
            eq(h2.get_size(), 1048576, 'zeroes size')
            eq(h2.pread(1048576, 0) == bytes(1048576), True, 'zeroes content')
            # The empty name is the default export.
            h3 = connect('', full_info=True)
            eq(h3.get_canonical_export_name(), 'greeting', 'default export')
            eq(h3.pread(19, 0), b'Hello from nbdkit!\\n', 'greeting content')
            fails_with('ENOENT', connect, 'nope')
            ",
        );
    });
}

// ---------------------------------------------------------------------------
// tar.py

/// A tar archive `images.tar` in `dir` with `blob.bin` (odd-sized data)
/// and `disk.qcow2` (16 MiB virtual, 64 KiB of 0xab at 1 MiB); returns
/// the archive and the two members' paths.
fn make_tar(dir: &Dir) -> (PathBuf, PathBuf, PathBuf) {
    let blob = dir.write("blob.bin", data(100_000, 5));
    run_ok(dir, "qemu-img", &["create", "-q", "-f", "qcow2", "disk.qcow2", "16M"]);
    run_ok(dir, "qemu-io", &["-f", "qcow2", "-c", "write -q -P 0xab 1M 64k", "disk.qcow2"]);
    run_ok(dir, "tar", &["cf", "images.tar", "blob.bin", "disk.qcow2"]);
    (dir.join("images.tar"), blob, dir.join("disk.qcow2"))
}

#[test]
fn tar_serves_a_member() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let (tar, blob, qcow2) = make_tar(&dir);
        let tar_arg = format!("tar={}", tar.display());

        let srv = serve(v, &dir, "tar.py").arg(&tar_arg).arg("member=blob.bin").start();
        srv.py(&format!(
            "
            want = open({blob}, 'rb').read()
            h = connect()
            eq(h.get_size(), len(want), 'size')
            eq(h.is_read_only(), 1, 'read-only')
            eq(h.can_multi_conn(), 1, 'multi-conn')
            got = b''.join(h.pread(min(7777, len(want) - off), off) for off in range(0, len(want), 7777))
            eq(got == want, True, 'member content')
            fails_with('EPERM', h.pwrite, b'x', 0)
            ",
            blob = py_str(&blob),
        ));
        drop(srv);

        let srv = serve(v, &dir, "tar.py").arg(&tar_arg).arg("member=disk.qcow2").start();
        let info = srv.tool_ok("qemu-img", &["info", "--output=json", &srv.uri()]);
        assert!(info.contains("\"format\": \"qcow2\""), "[{v}] qemu-img info:\n{info}");
        assert!(info.contains("\"virtual-size\": 16777216"), "[{v}] qemu-img info:\n{info}");
        let out = dir.join("out.raw").display().to_string();
        srv.tool_ok("qemu-img", &["convert", "-f", "qcow2", "-O", "raw", &srv.uri(), &out]);
        let cmp = srv.tool("qemu-img", &["compare", "-f", "raw", "-F", "qcow2", &out, &qcow2.display().to_string()]);
        assert!(cmp.success(), "[{v}] the converted image differs: {cmp}");
    });
}

#[test]
fn tar_missing_member_fails_at_start() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let (tar, _, _) = make_tar(&dir);
        let run = serve(v, &dir, "tar.py")
            .arg(&format!("tar={}", tar.display()))
            .arg("member=nope.img")
            .run(RUN_TIMEOUT)
            .failed();
        assert!(run.stderr.contains("KeyError") && run.stderr.contains("nope.img"), "[{v}] {run}");
    });
}

// ---------------------------------------------------------------------------
// The stand-in module and the stubs

/// Runs both inside nbdkit (the real `nbdkit` module) and under plain
/// Python with the stand-in; writes one `FUNCTION\tINPUT\tRESULT` line per
/// check to $OUT, for each function the module has, and one line per
/// constant.
const AGREE: &str = r#"
import builtins, os
import nbdkit

CHECKS = {
    "parse_size": ["0", "1", "512", " 7", "+5", "-0", "-1", "1b", "1B", "1s", "2S", "1k", "1K",
                   "1m", "1M", "1g", "1G", "1t", "1p", "1e", "1E", "7E", "8E",
                   "9223372036854775807", "9223372036854775808", "8796093022207T",
                   "8796093022208T", "", " ", "k", "1x", "1KB", "1KiB", "1 K", "1k ", "0x10",
                   "1.5M", "10\n", "010", "\t3"],
    "parse_bool": ["1", "0", "true", "TRUE", "t", "T", "yes", "Y", "on", "ON", "false", "f",
                   "no", "N", "off", "Off", "", "2", "01", "tru", " yes", "yes ", "enable"],
    "parse_probability": ["0", "0.1", "1e-1", "10%", "1:10", "1/10", " 10 % ", "200%", "", "x",
                          "-0.5", "1/0", "0/0", "0:0", "inf", "nan", "1:", "%", ".5", "5.",
                          "1_0", "1e", "+1", "-0", "1/2/3", "1:2%", "0x1", "1 e1",
                          "\u00a01\u00a0", "\x1c1"],
    "parse_delay": ["1", "1.2", "1.2s", "120ms", "1.2ms", "1.2us", "120\u03bcs", "1ns", "", "s",
                    "-1", "1x", "nan", "inf", "0.5ns", "1.5ns", "2.5ns", "4294967295",
                    "4294967295.4", "1e3ms", " 2 s ", "1 ns", "0", ".1", "1..2", "1sec",
                    "1m", "1h"],
}

def attempt(name, s):
    f = getattr(nbdkit, name)
    try:
        r = f("what", s) if name in ("parse_probability", "parse_delay") else f(s)
        return "ok %r" % (r,)
    except Exception as e:
        return "%s %s" % (type(e).__name__, e)

with builtins.open(os.environ["OUT"], "w") as out:
    for name, inputs in CHECKS.items():
        if hasattr(nbdkit, name):
            for s in inputs:
                out.write("%s\t%r\t%s\n" % (name, s, attempt(name, s)))
    for name in sorted(dir(nbdkit)):
        if name.isupper() and not name.startswith("_"):
            out.write("const\t%s\t%r\n" % (name, getattr(nbdkit, name)))

API_VERSION = 2
def open(readonly):
    return 1
def get_size(h):
    return 0
def pread(h, buf, offset, flags):
    pass
"#;

#[test]
fn standin_agrees_with_the_real_module() {
    let standin = workspace_root().join("python").join("standin");
    for_each_variant(|v| {
        let dir = Dir::new();
        let real_out = dir.join("real.txt");
        Nbdkit::new(v, &dir, &[AGREE])
            .raw()
            .script_name("agree.py")
            .env("OUT", &real_out.display().to_string())
            .dump_plugin()
            .ok();
        let standin_out = dir.join("standin.txt");
        let mut cmd = tool("/usr/bin/python3");
        cmd.arg(dir.join("agree.py"))
            .env("PYTHONPATH", &standin)
            .env("OUT", &standin_out)
            .current_dir(dir.path());
        run_in(dir.path(), &mut cmd, RUN_TIMEOUT).ok();

        let real = fs::read_to_string(&real_out).expect("read real.txt");
        let functions: Vec<&str> = real.lines().filter_map(|l| l.split('\t').next()).collect();
        let expected: &[&str] = if v.is_reference() {
            &["parse_size"] // nbdkit 1.32's module has no other parser.
        } else {
            &["parse_size", "parse_bool", "parse_probability", "parse_delay"]
        };
        for f in expected {
            assert!(functions.contains(f), "[{v}] the module lacks {f}:\n{real}");
        }
        let standin = fs::read_to_string(&standin_out).expect("read standin.txt");
        let standin: Vec<&str> = standin
            .lines()
            .filter(|l| l.split('\t').next().is_some_and(|f| functions.contains(&f)))
            .collect();
        let real: Vec<&str> = real.lines().collect();
        let differ: Vec<String> = real
            .iter()
            .zip(&standin)
            .filter(|(a, b)| a != b)
            .map(|(a, b)| format!("  real:     {a}\n  stand-in: {b}"))
            .collect();
        assert!(
            differ.is_empty() && real.len() == standin.len(),
            "[{v}] the stand-in and the real module differ ({} vs {} lines):\n{}",
            real.len(),
            standin.len(),
            differ.join("\n")
        );
    });
}

/// Run inside nbdkit: writes to $OUT the interpreter, then one line per
/// name the `nbdkit` module has (`def NAME` or `NAME: int`), then, where
/// mypy can be imported, the report of mypy's stubtest comparing the
/// module with `python/nbdkit.pyi` (found through $MYPYPATH).
const STUBTEST: &str = r#"
import builtins, contextlib, io, os, sys
import nbdkit

lines = ["impl=" + sys.implementation.name]
for name in sorted(dir(nbdkit)):
    if not name.startswith("__"):
        value = getattr(nbdkit, name)
        lines.append(("def " if callable(value) else "%s " % type(value).__name__) + name)
try:
    from mypy import stubtest
except ImportError as e:
    lines.append("stubtest: cannot import mypy: %s" % e)
else:
    report = io.StringIO()
    with contextlib.redirect_stdout(report):
        rc = stubtest.test_stubs(stubtest.parse_options(["--concise", "nbdkit"]))
    lines.append("stubtest: rc=%d" % rc)
    lines.extend("stubtest: " + l for l in report.getvalue().splitlines() if l)
with builtins.open(os.environ["OUT"], "w") as out:
    out.write("\n".join(lines) + "\n")

API_VERSION = 2
def open(readonly):
    return 1
def get_size(h):
    return 0
def pread(h, buf, offset, flags):
    pass
"#;

/// What nbdkit 1.32's module lacks of the stubs.
const NEWER_THAN_REFERENCE: [&str; 15] = [
    "_log",
    "disconnect",
    "is_tls",
    "nanosleep",
    "parse_bool",
    "parse_delay",
    "parse_probability",
    "peer_gid",
    "peer_pid",
    "peer_security_context",
    "peer_tls_dn",
    "peer_tls_issuer_dn",
    "peer_uid",
    "read_password",
    "stdio_safe",
];

/// The names `python/nbdkit.pyi` declares, as `def NAME` / `int NAME`.
fn stub_names() -> Vec<String> {
    let path = workspace_root().join("python").join("nbdkit.pyi");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut names: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| {
            if let Some(rest) = l.strip_prefix("def ") {
                rest.split('(').next().map(|n| (n.to_string(), format!("def {n}")))
            } else {
                l.strip_suffix(": Final[int]").map(|n| (n.to_string(), format!("int {n}")))
            }
        })
        .collect();
    names.sort();
    names.into_iter().map(|(_, line)| line).collect()
}

#[test]
fn stubs_match_the_module() {
    let stubs = stub_names();
    assert!(stubs.len() > 30, "too few names found in nbdkit.pyi: {stubs:?}");
    for_each_variant(|v| {
        let dir = Dir::new();
        let out = dir.join("stubtest.txt");
        Nbdkit::new(v, &dir, &[STUBTEST])
            .raw()
            .script_name("stubtest_plugin.py")
            .env("OUT", &out.display().to_string())
            .env("MYPYPATH", &workspace_root().join("python").display().to_string())
            .dump_plugin()
            .ok();
        let report = fs::read_to_string(&out).unwrap_or_else(|e| panic!("[{v}] no report: {e}"));
        let names: Vec<&str> = report.lines().filter(|l| l.starts_with("def ") || l.starts_with("int ")).collect();
        let want: Vec<&str> = stubs
            .iter()
            .map(String::as_str)
            .filter(|l| !v.is_reference() || !NEWER_THAN_REFERENCE.iter().any(|n| l.ends_with(&format!(" {n}"))))
            .collect();
        assert_eq!(names, want, "[{v}] the module's names and types, against nbdkit.pyi");

        // stubtest also compares signatures where the module shows them.
        let stubtest: Vec<&str> = report.lines().filter_map(|l| l.strip_prefix("stubtest: ")).collect();
        if report.starts_with("impl=cpython\n") {
            assert!(
                !stubtest.first().is_some_and(|l| l.starts_with("cannot import mypy")),
                "[{v}] stubtest needs mypy for Debian's python3: apt-get install mypy\n{report}"
            );
        }
        if stubtest.first().is_some_and(|l| l.starts_with("rc=")) {
            let got: Vec<&str> = stubtest[1..].to_vec();
            let want: Vec<String> = if v.is_reference() {
                NEWER_THAN_REFERENCE[1..].iter().map(|f| format!("nbdkit.{f} is not present at runtime")).collect()
            } else {
                Vec::new()
            };
            assert_eq!(got, want, "[{v}] stubtest:\n{report}");
        }
    });
}

// ---------------------------------------------------------------------------
// Without nbdkit: the scripts' own tests and type checks

#[test]
fn example_unit_tests_pass_with_the_standin() {
    let root = workspace_root();
    let dir = Dir::new();
    let mut cmd = tool("/usr/bin/python3");
    cmd.args(["-B", "-m", "unittest", "examples/test_ramdisk.py"]).current_dir(&root);
    run_in(dir.path(), &mut cmd, RUN_TIMEOUT).ok();
    let mut cmd = tool("/usr/bin/python3");
    cmd.args(["-B", "-m", "unittest", "discover", "-s", "python/standin"]).current_dir(&root);
    run_in(dir.path(), &mut cmd, RUN_TIMEOUT).ok();
}

#[test]
fn examples_type_check_against_the_stubs() {
    let root = workspace_root();
    let dir = Dir::new();
    let cache = |name: &str| format!("--cache-dir={}", dir.join(name).display());
    let mut cmd = tool("mypy");
    cmd.args(["--config-file", "python/mypy.ini", &cache("examples")]).current_dir(&root);
    run_in(dir.path(), &mut cmd, RUN_TIMEOUT).ok();
    let mut cmd = tool("mypy");
    cmd.args(["--strict", &cache("standin"), "python/standin"]).current_dir(&root);
    run_in(dir.path(), &mut cmd, RUN_TIMEOUT).ok();
}
