//! Real-world clients against a served script: qemu-img, nbdcopy, nbdinfo.

use conformance::*;
use std::fs;

const MIB: usize = 1024 * 1024;

/// A writable 4 MiB disk whose every 512-byte sector holds its number
/// (4 bytes little-endian, repeated), except the second MiB, left zero.
const PATTERN_DISK: &str = "
API_VERSION = 2
DISK = bytearray(b''.join(i.to_bytes(4, 'little') * 128 for i in range(8192)))
DISK[1024 * 1024:2 * 1024 * 1024] = bytearray(1024 * 1024)
def open(readonly):
    return 1
def get_size(h):
    return len(DISK)
def pread(h, buf, offset, flags):
    buf[:] = DISK[offset:offset + len(buf)]
def pwrite(h, buf, offset, flags):
    DISK[offset:offset + len(buf)] = buf
def zero(h, count, offset, flags):
    DISK[offset:offset + count] = bytearray(count)
def flush(h, flags):
    pass
";

fn pattern() -> Vec<u8> {
    let mut v: Vec<u8> = (0u32..8192).flat_map(|i| i.to_le_bytes().repeat(128)).collect();
    v[MIB..2 * MIB].fill(0);
    v
}

/// Some other 4 MiB of data, with a zero hole.
fn other_data() -> Vec<u8> {
    let mut v: Vec<u8> = (0..4 * MIB).map(|i| (i * 7 % 251) as u8).collect();
    v[3 * MIB..3 * MIB + 65536].fill(0);
    v
}

/// Reads the whole export back through libnbd and compares with `file`.
fn export_equals_file(srv: &Server, file: &std::path::Path) {
    srv.py(&format!(
        "
        want = open({:?}, 'rb').read()
        h = connect()
        got = b''.join(h.pread(1024 * 1024, off) for off in range(0, h.get_size(), 1024 * 1024))
        eq(len(got), len(want), 'size')
        eq(got == want, True, 'export contents equal the file')
        ",
        file.display().to_string()
    ));
}

#[test]
fn qemu_img_info() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[PATTERN_DISK]).start();
        let out = srv.tool_ok("qemu-img", &["info", "--output=json", &srv.uri()]);
        assert!(out.contains("\"virtual-size\": 4194304"), "[{v}] qemu-img info:\n{out}");
    });
}

#[test]
fn qemu_img_convert_from_the_export() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[PATTERN_DISK]).start();
        let out = dir.join("out.img");
        let out_s = out.display().to_string();
        srv.tool_ok("qemu-img", &["convert", "-f", "raw", "-O", "raw", &srv.uri(), &out_s]);
        let got = fs::read(&out).expect("read out.img");
        assert!(got == pattern(), "[{v}] qemu-img convert copied different data");
    });
}

#[test]
fn qemu_img_convert_to_the_export() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[PATTERN_DISK]).start();
        let src = dir.write("src.img", other_data());
        let src_s = src.display().to_string();
        srv.tool_ok("qemu-img", &["convert", "-n", "-f", "raw", "-O", "raw", &src_s, &srv.uri()]);
        export_equals_file(&srv, &src);
    });
}

#[test]
fn nbdcopy_from_the_export() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[PATTERN_DISK]).start();
        let out = dir.join("out.img");
        srv.tool_ok("nbdcopy", &[&srv.uri(), &out.display().to_string()]);
        let got = fs::read(&out).expect("read out.img");
        assert!(got == pattern(), "[{v}] nbdcopy copied different data");
    });
}

#[test]
fn nbdcopy_to_the_export() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[PATTERN_DISK]).start();
        let src = dir.write("src.img", other_data());
        srv.tool_ok("nbdcopy", &[&src.display().to_string(), &srv.uri()]);
        export_equals_file(&srv, &src);
    });
}

#[test]
fn nbdcopy_to_the_export_in_parallel_mode() {
    // With PARALLEL and multi-conn, nbdcopy uses several connections and
    // many requests in flight; the data must still arrive intact.
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(
            v,
            &dir,
            &[PATTERN_DISK, "
            def thread_model():
                return nbdkit.THREAD_MODEL_PARALLEL
            def can_multi_conn(h):
                return True
            "],
        )
        .start();
        let src = dir.write("src.img", other_data());
        srv.tool_ok(
            "nbdcopy",
            &["--connections=4", "--requests=16", &src.display().to_string(), &srv.uri()],
        );
        export_equals_file(&srv, &src);
    });
}

#[test]
fn nbdinfo_map_shows_extents() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(
            v,
            &dir,
            &[PATTERN_DISK, "
            def extents(h, count, offset, flags):
                return [(0, 1024 * 1024, 0),
                        (1024 * 1024, 1024 * 1024, nbdkit.EXTENT_HOLE | nbdkit.EXTENT_ZERO),
                        (2 * 1024 * 1024, 2 * 1024 * 1024, 0)]
            "],
        )
        .start();
        let out = srv.tool_ok("nbdinfo", &["--map", &srv.uri()]);
        let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split_whitespace().collect()).collect();
        let firsts: Vec<&[&str]> = rows.iter().map(|r| &r[..3.min(r.len())]).collect();
        assert_eq!(
            firsts,
            [
                &["0", "1048576", "0"][..],
                &["1048576", "1048576", "3"][..],
                &["2097152", "2097152", "0"][..],
            ],
            "[{v}] nbdinfo --map:\n{out}"
        );
    });
}
