//! Data through both API versions, large requests and per-connection handles.

use conformance::*;

/// Asserts that the script recorded exactly `want` (one entry per line).
fn recorded(v: &Variant, dir: &Dir, want: &[&str]) {
    let got = dir.record();
    assert_eq!(got, want, "[{v}] calls the script recorded");
}

const V1_SCRIPT: &str = "
# No API_VERSION: API version 1.
DISK = bytearray(1024 * 1024)
def open(readonly):
    return {}
def get_size(h):
    return len(DISK)
def pread(h, count, offset):
    record('pread', count, offset)
    return bytes(DISK[offset:offset + count])
def pwrite(h, buf, offset):
    record('pwrite', type(buf).__name__, len(buf), offset)
    DISK[offset:offset + len(buf)] = buf
def flush(h):
    record('flush')
def trim(h, count, offset):
    record('trim', count, offset)
    DISK[offset:offset + count] = bytearray(count)
def zero(h, count, offset, may_trim):
    record('zero', count, offset, may_trim)
    DISK[offset:offset + count] = bytearray(count)
";

const V2_SCRIPT: &str = "
API_VERSION = 2
DISK = bytearray(1024 * 1024)
def open(readonly):
    return {}
def get_size(h):
    return len(DISK)
def pread(h, buf, offset, flags):
    record('pread', type(buf).__name__, len(buf), offset, flags)
    buf[:] = DISK[offset:offset + len(buf)]
def pwrite(h, buf, offset, flags):
    record('pwrite', type(buf).__name__, len(buf), offset, flags)
    DISK[offset:offset + len(buf)] = buf
def flush(h, flags):
    record('flush', flags)
def trim(h, count, offset, flags):
    record('trim', count, offset, flags)
    DISK[offset:offset + count] = bytearray(count)
def zero(h, count, offset, flags):
    record('zero', count, offset, flags)
    DISK[offset:offset + count] = bytearray(count)
";

/// The same client for both API versions.
const ROUND_TRIP_CLIENT: &str = r#"
h = connect()
h.pwrite(b"hello" * 100, 4096)
eq(h.pread(500, 4096), b"hello" * 100, "data read back")
h.flush()
h.trim(512, 4096)
eq(h.pread(512, 4096), bytes(512), "trimmed range")
h.pwrite(b"\xff" * 1024, 8192)
h.zero(1024, 8192)
h.zero(1024, 8192, nbd.CMD_FLAG_NO_HOLE)
eq(h.pread(1024, 8192), bytes(1024), "zeroed range")
h.shutdown()
"#;

#[test]
fn api_v1_round_trip() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[V1_SCRIPT]).start();
        srv.py(ROUND_TRIP_CLIENT);
        // v1: pread returns a buffer, pwrite gets a memoryview and no flags,
        // zero gets may_trim as a bool (True unless the client sent NO_HOLE).
        recorded(
            v,
            &dir,
            &[
                "pwrite memoryview 500 4096",
                "pread 500 4096",
                "flush",
                "trim 512 4096",
                "pread 512 4096",
                "pwrite memoryview 1024 8192",
                "zero 1024 8192 True",
                "zero 1024 8192 False",
                "pread 1024 8192",
            ],
        );
    });
}

#[test]
fn api_v2_round_trip() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[V2_SCRIPT]).start();
        srv.py(ROUND_TRIP_CLIENT);
        // v2: pread fills a writable memoryview; every call gets flags.
        recorded(
            v,
            &dir,
            &[
                "pwrite memoryview 500 4096 0",
                "pread memoryview 500 4096 0",
                "flush 0",
                "trim 512 4096 0",
                "pread memoryview 512 4096 0",
                "pwrite memoryview 1024 8192 0",
                "zero 1024 8192 1",
                "zero 1024 8192 0",
                "pread memoryview 1024 8192 0",
            ],
        );
    });
}

#[test]
fn api_v1_pread_may_return_bytearray_or_longer_buffer() {
    // v1 pread may return anything with the buffer protocol, at least
    // `count` bytes long; extra bytes are ignored.
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(
            v,
            &dir,
            &["
            def open(readonly):
                return 1
            def get_size(h):
                return 1024
            def pread(h, count, offset):
                if offset == 0:
                    return bytearray(b'a' * count)
                return memoryview(b'b' * (count + 100))
            "],
        )
        .start();
        srv.py(
            r#"
            h = connect()
            eq(h.pread(512, 0), b"a" * 512, "bytearray")
            eq(h.pread(512, 512), b"b" * 512, "longer memoryview")
            "#,
        );
    });
}

#[test]
fn api_version_1_declared_explicitly() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(
            v,
            &dir,
            &["
            API_VERSION = 1
            def open(readonly):
                return 1
            def get_size(h):
                return 512
            def pread(h, count, offset):
                return b'1' * count
            "],
        )
        .start();
        srv.py("eq(connect().pread(512, 0), b'1' * 512, 'data')");
    });
}

#[test]
fn large_requests_32_mib() {
    // 32 MiB is the largest request nbdkit accepts; check data integrity
    // both ways with a pattern that differs in every 512-byte sector.
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(
            v,
            &dir,
            &["
            API_VERSION = 2
            DISK = bytearray(64 * 1024 * 1024)
            def open(readonly):
                return 1
            def get_size(h):
                return len(DISK)
            def pread(h, buf, offset, flags):
                record('pread', len(buf), offset)
                buf[:] = DISK[offset:offset + len(buf)]
            def pwrite(h, buf, offset, flags):
                record('pwrite', len(buf), offset)
                DISK[offset:offset + len(buf)] = buf
            "],
        )
        .start();
        srv.py(
            r#"
            import hashlib
            N = 32 * 1024 * 1024
            data = b"".join(i.to_bytes(4, "little") * 128 for i in range(N // 512))
            h = connect()
            h.pwrite(data, 4096)
            got = h.pread(N, 4096)
            eq(len(got), N, "length")
            eq(hashlib.sha256(got).hexdigest(), hashlib.sha256(data).hexdigest(), "sha256")
            eq(h.pread(4096, 0), bytes(4096), "before the write")
            "#,
        );
        recorded(v, &dir, &["pwrite 33554432 4096", "pread 33554432 4096", "pread 4096 0"]);
    });
}

#[test]
fn handles_are_per_connection() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(
            v,
            &dir,
            &["
            API_VERSION = 2
            class Handle:
                pass
            def open(readonly):
                h = Handle()
                h.disk = bytearray(4096)
                record('open', id(h))
                return h
            def get_size(h):
                return len(h.disk)
            def pread(h, buf, offset, flags):
                buf[:] = h.disk[offset:offset + len(buf)]
            def pwrite(h, buf, offset, flags):
                h.disk[offset:offset + len(buf)] = buf
            def close(h):
                record('close', id(h))
            "],
        )
        .start();
        srv.py(
            r#"
            a = connect()
            b = connect()
            a.pwrite(b"A" * 512, 0)
            b.pwrite(b"B" * 512, 0)
            eq(a.pread(512, 0), b"A" * 512, "connection a sees its own data")
            eq(b.pread(512, 0), b"B" * 512, "connection b sees its own data")
            a.shutdown()
            b.shutdown()
            "#,
        );
        // close runs after the client has gone: wait for both.
        let rec = dir.wait_for_record(|r| r.iter().filter(|l| l.starts_with("close ")).count() == 2);
        let opens: Vec<&str> = rec.iter().filter_map(|l| l.strip_prefix("open ")).collect();
        let closes: Vec<&str> = rec.iter().filter_map(|l| l.strip_prefix("close ")).collect();
        assert_eq!(opens.len(), 2, "[{v}] two opens: {rec:?}");
        assert_ne!(opens[0], opens[1], "[{v}] distinct handles: {rec:?}");
        let mut o = opens.clone();
        let mut c = closes.clone();
        o.sort();
        c.sort();
        assert_eq!(o, c, "[{v}] each handle closed once: {rec:?}");
    });
}

#[test]
fn open_sees_readonly_flag() {
    for_each_variant(|v| {
        for (opt, want) in [(None, "open False"), (Some("-r"), "open True")] {
            let dir = Dir::new();
            let mut cmd = Nbdkit::new(
                v,
                &dir,
                &[V2_DISK, V2_PWRITE, "
                _open = open
                def open(readonly):
                    record('open', readonly)
                    return _open(readonly)
                "],
            );
            if let Some(o) = opt {
                cmd = cmd.opt(o);
            }
            let srv = cmd.start();
            let ro = srv.py("print(connect().is_read_only())");
            assert_eq!(ro.trim(), if opt.is_some() { "True" } else { "False" }, "[{v}] {opt:?}");
            assert_eq!(dir.record(), [want], "[{v}] open with {opt:?}");
        }
    });
}

#[test]
fn pwrite_data_is_a_read_only_view() {
    // pwrite's buffer is a read-only memoryview of nbdkit's buffer.
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(
            v,
            &dir,
            &[V2_DISK, "
            def pwrite(h, buf, offset, flags):
                record('readonly', buf.readonly, bytes(buf[:3]))
                try:
                    buf[0] = 0
                except TypeError:
                    record('write refused')
            "],
        )
        .start();
        srv.py("connect().pwrite(b'abc' * 10, 0)");
        recorded(v, &dir, &["readonly True b'abc'", "write refused"]);
    });
}

#[test]
fn nbdsh_round_trip() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[V2_DISK, V2_PWRITE]).start();
        let out = srv.tool_ok(
            "nbdsh",
            &[
                "-u",
                &srv.uri(),
                "-c",
                "h.pwrite(b'nbdsh!' * 10, 1000)",
                "-c",
                "print(h.pread(60, 1000).decode())",
                "-c",
                "print(h.get_size())",
            ],
        );
        assert_eq!(out, format!("{}\n1048576\n", "nbdsh!".repeat(10)), "[{v}] nbdsh output");
    });
}

#[test]
fn serve_over_stdin_stdout() {
    // nbdkit -s: one connection over a pipe, started by the client itself.
    for_each_variant(|v| {
        let dir = Dir::new();
        let cmd = Nbdkit::new(v, &dir, &[V2_DISK, V2_PWRITE]);
        let script = cmd.write_script();
        let mut argv = vec!["nbdkit".to_string(), "-s".into(), "--exit-with-parent".into()];
        argv.extend(cmd.plugin_args(&script));
        let argv = format!("{argv:?}");
        let mut client = tool("/usr/bin/python3");
        client.env("CONFORMANCE_RECORD", dir.join("record.txt"));
        client.arg("-c").arg(format!(
            "import nbd\n\
             h = nbd.NBD()\n\
             h.connect_command({argv})\n\
             h.pwrite(b'x' * 512, 512)\n\
             assert h.pread(1024, 0) == bytes(512) + b'x' * 512\n\
             print(h.get_size())\n"
        ));
        let run = run_in(dir.path(), &mut client, RUN_TIMEOUT);
        assert!(run.success(), "[{v}] client over -s failed: {run}");
        assert_eq!(run.stdout.trim(), "1048576", "[{v}] size");
    });
}
