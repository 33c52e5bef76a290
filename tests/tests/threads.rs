//! Thread models.  Timing is the behaviour under test here (do requests
//! overlap?), so the margins are wide: sleeps are lower bounds, and the
//! "overlapping" bound leaves seconds of slack for a busy machine.

use conformance::*;

/// A v2 disk whose pread sleeps one second, with `thread_model` from `extra`.
fn slow_disk(extra: &str) -> Vec<&str> {
    vec![
        V2_DISK,
        "
        def pread(h, buf, offset, flags):
            time.sleep(1)
            buf[:] = bytes(len(buf))
        ",
        extra,
    ]
}

/// Client: 4 concurrent reads on one connection; prints the seconds taken.
const FOUR_AIO_READS: &str = "
h = connect()
bufs = [nbd.Buffer(512) for i in range(4)]
t0 = time.monotonic()
cookies = [h.aio_pread(b, i * 512) for i, b in enumerate(bufs)]
while h.aio_in_flight() > 0:
    h.poll(-1)
for c in cookies:
    eq(h.aio_command_completed(c), True, 'completed')
print('%.3f' % (time.monotonic() - t0))
";

fn seconds(out: &str) -> f64 {
    out.trim().parse().unwrap_or_else(|e| panic!("not a number of seconds: {out:?}: {e}"))
}

#[test]
fn parallel_requests_overlap() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let parts = slow_disk(
            "
            def thread_model():
                return nbdkit.THREAD_MODEL_PARALLEL
            ",
        );
        let srv = Nbdkit::new(v, &dir, &parts).start();
        let t = seconds(&srv.py(FOUR_AIO_READS));
        assert!(t >= 0.9, "[{v}] 4 reads of 1 s took {t} s: too fast");
        assert!(t < 3.0, "[{v}] 4 parallel reads of 1 s took {t} s: they did not overlap");
        srv.assert_log_contains("using thread model: parallel");
    });
}

#[test]
fn default_thread_model_serializes_requests() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &slow_disk("")).start();
        let t = seconds(&srv.py(FOUR_AIO_READS));
        assert!(t >= 3.9, "[{v}] 4 reads of 1 s took {t} s: they overlapped");
        srv.assert_log_contains("using thread model: serialize_all_requests");
    });
}

#[test]
fn serialize_requests_overlaps_across_connections_only() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let parts = slow_disk(
            "
            def thread_model():
                return nbdkit.THREAD_MODEL_SERIALIZE_REQUESTS
            ",
        );
        let srv = Nbdkit::new(v, &dir, &parts).start();
        let out = srv.py(
            "
            hs = [connect(), connect()]
            bufs = [nbd.Buffer(512) for i in range(4)]
            t0 = time.monotonic()
            # two reads on each of two connections
            cookies = [(hs[i % 2], hs[i % 2].aio_pread(b, i * 512)) for i, b in enumerate(bufs)]
            while sum(h.aio_in_flight() for h in hs) > 0:
                for h in hs:
                    if h.aio_in_flight() > 0:
                        h.poll(0)
                time.sleep(0.005)
            for h, c in cookies:
                eq(h.aio_command_completed(c), True, 'completed')
            print('%.3f' % (time.monotonic() - t0))
            ",
        );
        let t = seconds(&out);
        assert!(t >= 1.9, "[{v}] 2 reads of 1 s per connection took {t} s: too fast");
        assert!(t < 3.5, "[{v}] took {t} s: the two connections did not overlap");
        srv.assert_log_contains("using thread model: serialize_requests");
    });
}

#[test]
fn thread_model_is_reported_in_the_log() {
    for_each_variant(|v| {
        for (model, name) in [
            ("SERIALIZE_CONNECTIONS", "serialize_connections"),
            ("SERIALIZE_ALL_REQUESTS", "serialize_all_requests"),
            ("SERIALIZE_REQUESTS", "serialize_requests"),
            ("PARALLEL", "parallel"),
        ] {
            let dir = Dir::new();
            let extra = format!("def thread_model():\n    return nbdkit.THREAD_MODEL_{model}\n");
            let srv = Nbdkit::new(v, &dir, &[V2_DISK, &extra]).start();
            srv.py("connect().pread(512, 0)");
            srv.assert_log_contains(&format!("using thread model: {name}"));
        }
    });
}

#[test]
fn dump_plugin_reports_the_script_thread_model() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let run = Nbdkit::new(
            v,
            &dir,
            &[V2_DISK, "
            def thread_model():
                return nbdkit.THREAD_MODEL_PARALLEL
            "],
        )
        .dump_plugin()
        .ok();
        assert!(run.stdout.contains("\nthread_model=parallel\n"), "[{v}] {run}");
        assert!(run.stdout.contains("\nmax_thread_model=parallel\n"), "[{v}] {run}");
    });
}
