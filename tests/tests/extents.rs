//! Extents (NBD_CMD_BLOCK_STATUS / base:allocation).

use conformance::*;


#[test]
fn extents_reach_the_client() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(
            v,
            &dir,
            &[V2_DISK, "
            def extents(h, count, offset, flags):
                record('extents', count, offset, flags)
                return [(0, 4096, 0),
                        (4096, 4096, nbdkit.EXTENT_HOLE | nbdkit.EXTENT_ZERO),
                        (8192, 4096, nbdkit.EXTENT_ZERO),
                        (12288, len(DISK) - 12288, 0)]
            "],
        )
        .start();
        srv.py(
            "
            h = connect()
            # The last extent may run past the request (NBD allows it):
            # nbdkit passes it on up to the end of the disk.
            eq(status(h, 16384, 0),
               [(4096, 0), (4096, 3), (4096, 2), (1024 * 1024 - 12288, 0)], 'extents')
            ",
        );
        assert_eq!(dir.record(), ["extents 16384 0 0"], "[{v}] extents call");
    });
}

#[test]
fn extents_req_one_flag() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(
            v,
            &dir,
            &[V2_DISK, "
            def extents(h, count, offset, flags):
                record('extents', count, offset, flags)
                return [(offset, 512, nbdkit.EXTENT_HOLE), (offset + 512, 512, 0)]
            "],
        )
        .start();
        srv.py(
            "
            h = connect()
            eq(status(h, 65536, 4096, nbd.CMD_FLAG_REQ_ONE), [(512, 1)], 'REQ_ONE extents')
            ",
        );
        assert_eq!(dir.record(), ["extents 65536 4096 4"], "[{v}] extents call");
    });
}

#[test]
fn extents_may_be_any_iterable() {
    // A generator works as well as a list.
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(
            v,
            &dir,
            &[V2_DISK, "
            def extents(h, count, offset, flags):
                yield (offset, 1024, nbdkit.EXTENT_ZERO)
                yield (offset + 1024, count - 1024, 0)
            "],
        )
        .start();
        srv.py(
            "
            h = connect()
            eq(status(h, 4096, 0), [(1024, 2), (3072, 0)], 'extents')
            ",
        );
    });
}

#[test]
fn extents_may_describe_more_than_the_request() {
    // The script may describe more than was asked (here, the whole disk).
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(
            v,
            &dir,
            &[V2_DISK, "
            def extents(h, count, offset, flags):
                return [(0, len(DISK), nbdkit.EXTENT_ZERO)]
            "],
        )
        .start();
        srv.py(
            "
            h = connect()
            got = status(h, 8192, 4096)
            eq(sum(n for n, _ in got) >= 8192, True, 'covers the request: %r' % got)
            eq(all(f == 2 for _, f in got), True, 'all zero: %r' % got)
            ",
        );
    });
}

#[test]
fn no_extents_callback_means_one_allocated_extent() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[V2_DISK]).start();
        srv.py(
            "
            h = connect()
            eq(status(h, 1024 * 1024, 0), [(1024 * 1024, 0)], 'whole disk')
            eq(status(h, 4096, 8192), [(4096, 0)], 'the requested range only')
            ",
        );
    });
}

#[test]
fn can_extents_false_hides_the_script_extents() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(
            v,
            &dir,
            &[V2_DISK, "
            def can_extents(h):
                return False
            def extents(h, count, offset, flags):
                record('extents called')
                return [(offset, count, nbdkit.EXTENT_HOLE)]
            "],
        )
        .start();
        srv.py(
            "
            h = connect()
            eq(status(h, 4096, 0), [(4096, 0)], 'synthesized extent')
            ",
        );
        assert!(dir.record().is_empty(), "[{v}] extents called: {:?}", dir.record());
    });
}
