//! Long tests, run only with `cargo xtask test --soak` (CONFORMANCE_SOAK=1).
//! Every loop here is bounded in count and time, and talks only to the
//! nbdkit it started on a Unix socket.

use conformance::*;

#[test]
fn soak_many_connections_with_mixed_requests() {
    if !soak() {
        println!("skipped: long test, set CONFORMANCE_SOAK=1 (cargo xtask test --soak)");
        return;
    }
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(
            v,
            &dir,
            &["
            API_VERSION = 2
            import threading
            LOCK = threading.Lock()
            DISK = bytearray(16 * 1024 * 1024)
            def thread_model():
                return nbdkit.THREAD_MODEL_PARALLEL
            def open(readonly):
                return {}
            def get_size(h):
                return len(DISK)
            def can_multi_conn(h):
                return True
            def pread(h, buf, offset, flags):
                with LOCK:
                    buf[:] = DISK[offset:offset + len(buf)]
            def pwrite(h, buf, offset, flags):
                with LOCK:
                    DISK[offset:offset + len(buf)] = buf
            def zero(h, count, offset, flags):
                with LOCK:
                    DISK[offset:offset + count] = bytearray(count)
            def trim(h, count, offset, flags):
                zero(h, count, offset, flags)
            def flush(h, flags):
                pass
            def extents(h, count, offset, flags):
                return [(offset, count, 0)]
            "],
        )
        .start();
        // 8 client threads, each with its own connection and its own 1 MiB
        // region, doing random writes/zeroes/extents/flushes and checking
        // their region every 10 rounds: 60 seconds, at most 100000 rounds each.
        let out = srv.py(
            "
            import random, threading
            MiB = 1024 * 1024
            start = time.monotonic()
            end = start + 60
            errors = []
            rounds = []
            def worker(n):
                try:
                    h = connect()
                    rnd = random.Random(n)
                    base = n * 2 * MiB
                    shadow = bytearray(MiB)
                    i = 0
                    while i < 100000 and time.monotonic() < end:
                        i += 1
                        off = rnd.randrange(0, MiB - 65536, 512)
                        n_ = rnd.randrange(512, 65536, 512)
                        op = rnd.randrange(4)
                        if op == 0:
                            data = rnd.randbytes(n_)
                            h.pwrite(data, base + off, nbd.CMD_FLAG_FUA if i % 7 == 0 else 0)
                            shadow[off:off + n_] = data
                        elif op == 1:
                            h.zero(n_, base + off)
                            shadow[off:off + n_] = bytes(n_)
                        elif op == 2:
                            status(h, n_, base + off)
                        else:
                            h.flush()
                        if i % 10 == 0:
                            eq(h.pread(MiB, base) == shadow, True, 'worker %d round %d' % (n, i))
                    eq(h.pread(MiB, base) == shadow, True, 'worker %d at the end' % n)
                    rounds.append(i)
                    h.shutdown()
                except Exception as e:
                    errors.append('worker %d: %r' % (n, e))
            ts = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            eq(errors, [], 'worker errors')
            print('soak: %d rounds in %.1f s' % (sum(rounds), time.monotonic() - start))
            ",
        );
        println!("{out}");
        let (status, _) = srv.stop();
        assert!(status.success(), "[{v}] nbdkit exit status after the soak: {status}");
    });
}
