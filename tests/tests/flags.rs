//! Request flags reaching the script: FUA, MAY_TRIM, FAST_ZERO, REQ_ONE,
//! and what nbdkit does around them (FUA emulation, zero fallback).

use conformance::*;

/// A v2 script recording every data call with its flags, plus `extra`.
fn serve<'a>(v: &'a Variant, dir: &'a Dir, extra: &str) -> Server {
    Nbdkit::new(
        v,
        dir,
        &[
            "
            API_VERSION = 2
            DISK = bytearray(1024 * 1024)
            def open(readonly):
                return 1
            def get_size(h):
                return len(DISK)
            def pread(h, buf, offset, flags):
                record('pread', flags)
                buf[:] = DISK[offset:offset + len(buf)]
            def pwrite(h, buf, offset, flags):
                record('pwrite', flags)
                DISK[offset:offset + len(buf)] = buf
            def flush(h, flags):
                record('flush', flags)
            def trim(h, count, offset, flags):
                record('trim', flags)
            def zero(h, count, offset, flags):
                record('zero', flags)
                DISK[offset:offset + count] = bytearray(count)
            def cache(h, count, offset, flags):
                record('cache', count, offset, flags)
            ",
            extra,
        ],
    )
    .start()
}

fn recorded(v: &Variant, dir: &Dir, want: &[&str]) {
    assert_eq!(dir.record(), want, "[{v}] calls the script recorded");
}

#[test]
fn flag_constants_have_nbdkit_values() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = serve(
            v,
            &dir,
            "
            record('flags', nbdkit.FLAG_MAY_TRIM, nbdkit.FLAG_FUA, nbdkit.FLAG_REQ_ONE,
                   nbdkit.FLAG_FAST_ZERO)
            record('fua', nbdkit.FUA_NONE, nbdkit.FUA_EMULATE, nbdkit.FUA_NATIVE)
            record('cache', nbdkit.CACHE_NONE, nbdkit.CACHE_EMULATE, nbdkit.CACHE_NATIVE)
            record('extent', nbdkit.EXTENT_HOLE, nbdkit.EXTENT_ZERO)
            record('thread', nbdkit.THREAD_MODEL_SERIALIZE_CONNECTIONS,
                   nbdkit.THREAD_MODEL_SERIALIZE_ALL_REQUESTS,
                   nbdkit.THREAD_MODEL_SERIALIZE_REQUESTS, nbdkit.THREAD_MODEL_PARALLEL)
            ",
        );
        drop(srv);
        recorded(
            v,
            &dir,
            &["flags 1 2 4 8", "fua 0 1 2", "cache 0 1 2", "extent 1 2", "thread 0 1 2 3"],
        );
    });
}

#[test]
fn fua_native_reaches_pwrite_trim_and_zero() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = serve(v, &dir, "def can_fua(h):\n    return nbdkit.FUA_NATIVE\n");
        srv.py(
            "
            h = connect()
            h.pwrite(b'x' * 512, 0, nbd.CMD_FLAG_FUA)
            h.trim(512, 0, nbd.CMD_FLAG_FUA)
            h.zero(512, 0, nbd.CMD_FLAG_FUA | nbd.CMD_FLAG_NO_HOLE)
            h.pwrite(b'x' * 512, 0)
            ",
        );
        recorded(v, &dir, &["pwrite 2", "trim 2", "zero 2", "pwrite 0"]);
    });
}

#[test]
fn fua_emulated_with_flush_when_no_can_fua() {
    // Default can_fua with a flush callback is FUA_EMULATE: the script's
    // pwrite sees no FUA flag and nbdkit calls flush after it.
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = serve(v, &dir, "");
        srv.py("connect().pwrite(b'x' * 512, 0, nbd.CMD_FLAG_FUA)");
        recorded(v, &dir, &["pwrite 0", "flush 0"]);
    });
}

#[test]
fn zero_may_trim_flag() {
    // NBD_CMD_WRITE_ZEROES without NO_HOLE lets the plugin trim.
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = serve(v, &dir, "");
        srv.py(
            "
            h = connect()
            h.zero(4096, 0)
            h.zero(4096, 0, nbd.CMD_FLAG_NO_HOLE)
            ",
        );
        recorded(v, &dir, &["zero 1", "zero 0"]);
    });
}

#[test]
fn zero_fast_zero_flag() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = serve(v, &dir, "def can_fast_zero(h):\n    return True\n");
        srv.py(
            "
            h = connect()
            eq(h.can_fast_zero(), True, 'can_fast_zero')
            h.zero(4096, 0, nbd.CMD_FLAG_FAST_ZERO)
            h.zero(4096, 0, nbd.CMD_FLAG_FAST_ZERO | nbd.CMD_FLAG_NO_HOLE)
            ",
        );
        recorded(v, &dir, &["zero 9", "zero 8"]);
    });
}

#[test]
fn zero_eopnotsupp_falls_back_to_pwrite() {
    // nbdkit.set_error(EOPNOTSUPP) in zero makes nbdkit write zeroes with
    // pwrite instead; the client sees success.
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = serve(
            v,
            &dir,
            "
            def zero(h, count, offset, flags):
                record('zero', flags)
                nbdkit.set_error(errno.EOPNOTSUPP)
                raise Exception('no zero here')
            ",
        );
        srv.py(
            "
            h = connect()
            h.pwrite(b'x' * 1024, 0)
            h.zero(1024, 0, nbd.CMD_FLAG_NO_HOLE)
            eq(h.pread(1024, 0), bytes(1024), 'zeroed by pwrite')
            ",
        );
        recorded(v, &dir, &["pwrite 0", "zero 0", "pwrite 0", "pread 0"]);
        srv.assert_log_contains("zero requested falling back to pwrite");
    });
}

#[test]
fn zero_eopnotsupp_without_exception_also_falls_back() {
    // Setting EOPNOTSUPP and returning normally falls back too.
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = serve(
            v,
            &dir,
            "
            def zero(h, count, offset, flags):
                record('zero', flags)
                nbdkit.set_error(errno.EOPNOTSUPP)
            ",
        );
        srv.py(
            "
            h = connect()
            h.pwrite(b'x' * 1024, 0)
            h.zero(1024, 0, nbd.CMD_FLAG_NO_HOLE)
            eq(h.pread(1024, 0), bytes(1024), 'zeroed by pwrite')
            ",
        );
        recorded(v, &dir, &["pwrite 0", "zero 0", "pwrite 0", "pread 0"]);
    });
}

#[test]
fn fast_zero_without_zero_support_fails_fast() {
    // No zero callback: can_fast_zero defaults to True and a fast zero
    // fails at once with ENOTSUP, without touching the script.
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(
            v,
            &dir,
            &[V2_DISK, "
            def pwrite(h, buf, offset, flags):
                record('pwrite')
                DISK[offset:offset + len(buf)] = buf
            "],
        )
        .start();
        srv.py(
            "
            h = connect()
            eq(h.can_fast_zero(), True, 'can_fast_zero')
            fails_with('ENOTSUP', h.zero, 512, 0, nbd.CMD_FLAG_FAST_ZERO)
            h.zero(512, 0)
            ",
        );
        recorded(v, &dir, &["pwrite"]);
    });
}

#[test]
fn pread_and_flush_flags_are_zero() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = serve(v, &dir, "");
        srv.py(
            "
            h = connect()
            h.pread(512, 0)
            h.flush()
            ",
        );
        recorded(v, &dir, &["pread 0", "flush 0"]);
    });
}

#[test]
fn cache_reaches_the_script() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = serve(v, &dir, "");
        srv.py(
            "
            h = connect()
            eq(h.can_cache(), True, 'can_cache')
            h.cache(65536, 4096)
            ",
        );
        recorded(v, &dir, &["cache 65536 4096 0"]);
    });
}

#[test]
fn cache_emulated_reads_through_pread() {
    // CACHE_EMULATE: nbdkit serves NBD_CMD_CACHE by reading with pread.
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = serve(v, &dir, "def can_cache(h):\n    return nbdkit.CACHE_EMULATE\n");
        srv.py("connect().cache(4096, 0)");
        let rec = dir.record();
        assert!(!rec.is_empty(), "[{v}] no pread for emulated cache");
        assert!(rec.iter().all(|l| l == "pread 0"), "[{v}] emulated cache: {rec:?}");
    });
}

#[test]
fn cache_error_reaches_the_client() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = serve(
            v,
            &dir,
            "
            def cache(h, count, offset, flags):
                nbdkit.set_error(errno.ENOMEM)
                raise MemoryError('cache full')
            ",
        );
        srv.py("fails_with('ENOMEM', connect().cache, 4096, 0)");
    });
}
