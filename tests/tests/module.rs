//! The `nbdkit` module the plugin gives scripts: debug, parse_size,
//! export_name, set_error (see errors.rs), shutdown (see lifecycle.rs).

use conformance::*;

#[test]
fn debug_messages_go_to_the_log_with_v() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(
            v,
            &dir,
            &[V2_DISK, "
            nbdkit.debug('debug from the top level')
            def config_complete():
                nbdkit.debug('debug from config_complete')
            def pread(h, buf, offset, flags):
                nbdkit.debug('debug from pread offset=%d' % offset)
                buf[:] = bytes(len(buf))
            "],
        )
        .start();
        srv.py("connect().pread(512, 4096)");
        srv.assert_log_contains("debug: debug from the top level");
        srv.assert_log_contains("debug: debug from config_complete");
        srv.assert_log_contains("debug: debug from pread offset=4096");
    });
}

#[test]
fn parse_size() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(
            v,
            &dir,
            &[V2_DISK, "
            for s in ['0', '512', '1K', '1k', '1M', '1G', '1T', '1E', '2b', ' 1M']:
                record(repr(s), nbdkit.parse_size(s))
            for s in ['1MiB', '1.5M', 'abc', '-1', '', '1Z', '9E']:
                try:
                    nbdkit.parse_size(s)
                except ValueError:
                    record(repr(s), 'ValueError')
            try:
                nbdkit.parse_size(5)
            except TypeError:
                record('5 TypeError')
            "],
        )
        .start();
        drop(srv);
        assert_eq!(
            dir.record(),
            [
                "'0' 0",
                "'512' 512",
                "'1K' 1024",
                "'1k' 1024",
                "'1M' 1048576",
                "'1G' 1073741824",
                "'1T' 1099511627776",
                "'1E' 1152921504606846976",
                "'2b' 2",
                "' 1M' 1048576",
                "'1MiB' ValueError",
                "'1.5M' ValueError",
                "'abc' ValueError",
                "'-1' ValueError",
                "'' ValueError",
                "'1Z' ValueError",
                "'9E' ValueError",
                "5 TypeError",
            ],
            "[{v}] parse_size results"
        );
    });
}

#[test]
fn export_name_outside_a_connection_raises() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(
            v,
            &dir,
            &[V2_DISK, "
            def config_complete():
                try:
                    nbdkit.export_name()
                except Exception as e:
                    record('raised', type(e).__name__)
                else:
                    record('returned')
            "],
        )
        .start();
        drop(srv);
        assert_eq!(dir.record(), ["raised RuntimeError"], "[{v}]");
    });
}

#[test]
fn module_is_importable_under_any_name() {
    // `from nbdkit import ...` and `import nbdkit as x` both work.
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(
            v,
            &dir,
            &[V2_DISK, "
            from nbdkit import debug, set_error, parse_size, FLAG_FUA
            import nbdkit as nk
            record(parse_size('2K'), FLAG_FUA, nk.parse_size('1K'), nk is nbdkit)
            "],
        )
        .start();
        drop(srv);
        assert_eq!(dir.record(), ["2048 2 1024 True"], "[{v}]");
    });
}
