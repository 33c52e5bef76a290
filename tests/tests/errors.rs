//! Errors raised by scripts, as the client and the nbdkit log see them, and
//! scripts that return the wrong type: the request fails, the server lives.

use conformance::*;

/// pread fails with the errno whose number is `offset / 512` (none for 0).
const ERRNO_BY_OFFSET: &str = "
API_VERSION = 2
def open(readonly):
    return 1
def get_size(h):
    return 1024 * 1024
def pread(h, buf, offset, flags):
    e = offset // 512
    if e:
        nbdkit.set_error(e)
    raise ValueError('failing with errno %d' % e)
def pwrite(h, buf, offset, flags):
    nbdkit.set_error(errno.ENOSPC)
    raise IOError('disk full')
";

#[test]
fn set_error_reaches_the_client() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[ERRNO_BY_OFFSET]).start();
        srv.py(
            "
            h = connect()
            for e in [errno.EPERM, errno.EIO, errno.ENOMEM, errno.EINVAL, errno.ENOSPC,
                      errno.ESHUTDOWN]:
                fails_with(errno.errorcode[e], h.pread, 512, e * 512)
            fails_with('ENOSPC', h.pwrite, b'x' * 512, 0)
            ",
        );
    });
}

#[test]
fn set_error_outside_the_protocol_is_mapped_by_nbdkit() {
    // NBD carries few errno values; nbdkit maps the rest (EROFS to EPERM,
    // EDQUOT and EFBIG to ENOSPC, anything else to EINVAL).
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[ERRNO_BY_OFFSET]).start();
        srv.py(
            "
            h = connect()
            for e, want in [(errno.EROFS, 'EPERM'), (errno.EDQUOT, 'ENOSPC'),
                            (errno.EFBIG, 'ENOSPC'), (errno.ENOENT, 'EINVAL'),
                            (errno.EBADF, 'EINVAL')]:
                fails_with(want, h.pread, 512, e * 512)
            ",
        );
    });
}

#[test]
fn exception_without_set_error_is_eio() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[ERRNO_BY_OFFSET]).start();
        srv.py("fails_with('EIO', connect().pread, 512, 0)");
    });
}

#[test]
fn traceback_goes_to_the_log() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[ERRNO_BY_OFFSET]).start();
        srv.py("fails_with('EIO', connect().pread, 512, 0)");
        let log = srv.log();
        let start = log
            .find("plugin.py: pread: error: Traceback (most recent call last):")
            .unwrap_or_else(|| srv.fail("no traceback header for pread in the log"));
        let rest = &log[start..];
        for want in ["in pread", "raise ValueError", "ValueError: failing with errno 0"] {
            if !rest.contains(want) {
                srv.fail(&format!("traceback lacks {want:?}"));
            }
        }
    });
}

#[test]
fn traceback_names_the_failing_callback() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(
            v,
            &dir,
            &[V2_DISK, V2_PWRITE, "
            def flush(h, flags):
                raise RuntimeError('flush went wrong')
            "],
        )
        .start();
        srv.py("fails_with('EIO', connect().flush)");
        srv.assert_log_contains("plugin.py: flush: error: Traceback (most recent call last):");
        srv.assert_log_contains("RuntimeError: flush went wrong");
    });
}

#[test]
fn server_keeps_serving_after_an_error() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(
            v,
            &dir,
            &[V2_DISK, "
            def pwrite(h, buf, offset, flags):
                if offset == 0:
                    raise RuntimeError('not at zero')
                DISK[offset:offset + len(buf)] = buf
            "],
        )
        .start();
        srv.py(
            "
            h = connect()
            fails_with('EIO', h.pwrite, b'a' * 512, 0)
            h.pwrite(b'b' * 512, 512)
            eq(h.pread(1024, 0), bytes(512) + b'b' * 512, 'data after the error')
            h2 = connect()
            eq(h2.pread(512, 512), b'b' * 512, 'second connection')
            ",
        );
    });
}

#[test]
fn errors_in_trim_zero_and_extents_reach_the_client() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(
            v,
            &dir,
            &[V2_DISK, V2_PWRITE, "
            def trim(h, count, offset, flags):
                nbdkit.set_error(errno.EPERM)
                raise Exception('trim')
            def zero(h, count, offset, flags):
                nbdkit.set_error(errno.ENOSPC)
                raise Exception('zero')
            def extents(h, count, offset, flags):
                nbdkit.set_error(errno.ENOMEM)
                raise Exception('extents')
            "],
        )
        .start();
        srv.py(
            "
            h = connect()
            fails_with('EPERM', h.trim, 512, 0)
            fails_with('ENOSPC', h.zero, 512, 0)
            fails_with('ENOMEM', h.block_status, 512, 0, lambda *a: 0)
            eq(h.pread(512, 0), bytes(512), 'pread still works')
            ",
        );
    });
}

/// A script whose callbacks misbehave for some export names (the handle is
/// the export name).
const BAD_RETURNS: &str = "
def open(readonly):
    return nbdkit.export_name()
def get_size(h):
    if h == 'size-str':
        return '1M'
    return 1024 * 1024
def pread(h, count, offset):
    if h == 'short' and offset == 0:
        return b'x' * (count - 1)
    if h == 'not-buffer' and offset == 0:
        return 42
    return bytes(count)
def extents(h, count, offset, flags):
    if h == 'extents-int':
        return 5
    if h == 'extents-empty':
        return []
    if h == 'extents-pairs':
        return [(offset, count)]
    if h == 'extents-str':
        return [('zero', count, 0)]
    return [(offset, count, 0)]
def block_size(h):
    if h == 'block-size-pair':
        return (512, 4096)
    return (1, 4096, 1024 * 1024)
def export_description(h):
    if h == 'description-int':
        return 42
    return 'fine'
def can_write(h):
    if h == 'can-write-raises':
        raise RuntimeError('can_write failed')
    return False
";

/// Connecting to `export` fails, and afterwards a connection to the good
/// export (`''`) still works.
fn connection_fails(export: &str, log_needle: &str) {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[BAD_RETURNS]).start();
        srv.py(&format!(
            "
            h = nbd.NBD()
            h.set_export_name({export:?})
            try:
                h.connect_unix(SOCK)
            except nbd.Error as e:
                print('connect failed:', e)
            else:
                raise AssertionError('connecting to {export} succeeded')
            eq(connect().pread(512, 0), bytes(512), 'good export afterwards')
            "
        ));
        srv.assert_log_contains(log_needle);
    });
}

/// On export `export` the request made by `call` (Python, using `h`)
/// fails with `errname`, and the next request on the same connection (a
/// read at offset 512, where no callback misbehaves) works.
fn request_fails(export: &str, call: &str, errname: &str) {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[BAD_RETURNS]).start();
        srv.py(&format!(
            "
            h = connect({export:?})
            fails_with({errname:?}, lambda: {call})
            eq(h.pread(512, 512), bytes(512), 'next request')
            "
        ));
        if !srv.log().contains("error: ") {
            srv.fail("no error in the nbdkit log");
        }
    });
}

#[test]
fn get_size_returning_str_fails_the_connection() {
    connection_fails("size-str", "error");
}

#[test]
fn block_size_returning_a_pair_fails_the_connection() {
    connection_fails("block-size-pair", "block_size");
}

#[test]
fn can_write_raising_fails_the_connection() {
    connection_fails("can-write-raises", "RuntimeError: can_write failed");
}

#[test]
fn pread_v1_returning_too_short_a_buffer_fails_the_request() {
    request_fails("short", "h.pread(512, 0)", "EIO");
}

#[test]
fn pread_v1_returning_a_non_buffer_fails_the_request() {
    request_fails("not-buffer", "h.pread(512, 0)", "EIO");
}

#[test]
fn extents_returning_a_non_iterable_fails_the_request() {
    request_fails("extents-int", "h.block_status(4096, 0, lambda *a: 0)", "EIO");
}

#[test]
fn extents_returning_an_empty_list_fails_the_request() {
    request_fails("extents-empty", "h.block_status(4096, 0, lambda *a: 0)", "EIO");
}

#[test]
fn extents_returning_pairs_fails_the_request() {
    request_fails("extents-pairs", "h.block_status(4096, 0, lambda *a: 0)", "EIO");
}

#[test]
fn extents_returning_a_non_integer_fails_the_request() {
    request_fails("extents-str", "h.block_status(4096, 0, lambda *a: 0)", "EIO");
}

#[test]
fn export_description_returning_a_non_string_is_dropped() {
    // The connection works; there is just no description (libnbd: ENOTSUP).
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[BAD_RETURNS]).start();
        srv.py(
            "
            h = connect('description-int', full_info=True)
            fails_with('ENOTSUP', h.get_export_description)
            eq(h.pread(512, 0), bytes(512), 'pread')
            eq(connect('', full_info=True).get_export_description(), 'fine', 'good export')
            ",
        );
        srv.assert_log_contains("error");
    });
}

#[test]
fn open_raising_refuses_the_connection_only() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(
            v,
            &dir,
            &[V2_DISK, "
            _open = open
            def open(readonly):
                if nbdkit.export_name() == 'nope':
                    raise PermissionError('not this one')
                return _open(readonly)
            "],
        )
        .start();
        srv.py(
            "
            try:
                connect('nope')
            except nbd.Error as e:
                print('refused:', e)
            else:
                raise AssertionError('open raised but the connection succeeded')
            eq(connect().pread(512, 0), bytes(512), 'other connection')
            ",
        );
        srv.assert_log_contains("plugin.py: open: error: Traceback (most recent call last):");
        srv.assert_log_contains("PermissionError: not this one");
    });
}

#[test]
fn preconnect_raising_refuses_the_connection() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(
            v,
            &dir,
            &[V2_DISK, "
            COUNT = [0]
            def preconnect(readonly):
                COUNT[0] += 1
                if COUNT[0] == 1:
                    raise ConnectionRefusedError('first one is refused')
            "],
        )
        .start();
        srv.py(
            "
            try:
                connect()
            except nbd.Error as e:
                print('refused:', e)
            else:
                raise AssertionError('preconnect raised but the connection succeeded')
            eq(connect().pread(512, 0), bytes(512), 'second connection')
            ",
        );
        srv.assert_log_contains("ConnectionRefusedError: first one is refused");
    });
}
