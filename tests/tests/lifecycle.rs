//! Lifecycle callbacks, their order and their arguments; shutdown.

use conformance::*;
use std::time::Duration;

const LIFECYCLE: &str = "
record('load')
API_VERSION = 2
def config(key, value):
    record('config', key, value)
def config_complete():
    record('config_complete')
def thread_model():
    record('thread_model')
    return nbdkit.THREAD_MODEL_SERIALIZE_ALL_REQUESTS
def get_ready():
    record('get_ready')
def after_fork():
    record('after_fork')
def preconnect(readonly):
    record('preconnect', readonly)
def open(readonly):
    record('open', readonly)
    return 1
def get_size(h):
    return 512
def pread(h, buf, offset, flags):
    buf[:] = bytes(len(buf))
def close(h):
    record('close')
def cleanup():
    record('cleanup')
";

#[test]
fn lifecycle_callbacks_in_order() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[LIFECYCLE]).arg("a=1").arg("b=2").start();
        // close runs when nbdkit notices the disconnect: the client waits
        // for it before connecting again, so the order below is fixed.
        srv.py(&format!(
            "
            RECORD = {:?}
            def closes():
                with open(RECORD, encoding='utf-8') as f:
                    return f.read().split().count('close')
            for i in range(2):
                h = connect()
                h.pread(512, 0)
                h.shutdown()
                del h
                deadline = time.monotonic() + 60
                while closes() < i + 1:
                    assert time.monotonic() < deadline, 'close never called'
                    time.sleep(0.02)
            ",
            dir.join("record.txt").display().to_string()
        ));
        let (status, _) = srv.stop();
        assert!(status.success(), "[{v}] nbdkit exit status {status}");
        assert_eq!(
            dir.record(),
            [
                "load",
                "config a 1",
                "config b 2",
                "config_complete",
                "thread_model",
                "get_ready",
                "after_fork",
                "preconnect False",
                "open False",
                "close",
                "preconnect False",
                "open False",
                "close",
                "cleanup",
            ],
            "[{v}] lifecycle calls"
        );
    });
}

#[test]
fn preconnect_and_open_see_readonly() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[LIFECYCLE]).opt("-r").start();
        srv.py("connect().pread(512, 0)");
        let rec = dir.record();
        for want in ["preconnect True", "open True"] {
            assert!(rec.iter().any(|l| l == want), "[{v}] no {want:?} in {rec:?}");
        }
    });
}

#[test]
fn config_gets_keys_and_values_verbatim() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(
            v,
            &dir,
            &[V2_DISK, "
            def config(key, value):
                record('config', repr(key), repr(value))
            "],
        )
        .arg("size=1M")
        .arg("eq=x=y")
        .arg("empty=")
        .arg("text=café au lait")
        .arg("size=2M")
        .start();
        drop(srv);
        assert_eq!(
            dir.record(),
            [
                "config 'size' '1M'",
                "config 'eq' 'x=y'",
                "config 'empty' ''",
                "config 'text' 'café au lait'",
                "config 'size' '2M'",
            ],
            "[{v}] config calls"
        );
    });
}

#[test]
fn cleanup_runs_when_nbdkit_exits() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[LIFECYCLE]).start();
        assert!(!dir.record().contains(&"cleanup".to_string()), "[{v}] cleanup too early");
        let (status, _) = srv.stop();
        assert!(status.success(), "[{v}] nbdkit exit status {status}");
        assert_eq!(dir.record().last().map(String::as_str), Some("cleanup"), "[{v}]");
    });
}

#[test]
fn shutdown_from_the_script_stops_nbdkit() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let mut srv = Nbdkit::new(
            v,
            &dir,
            &[V2_DISK, "
            def pread(h, buf, offset, flags):
                record('pread')
                nbdkit.shutdown()
                buf[:] = bytes(len(buf))
            def cleanup():
                record('cleanup')
            "],
        )
        .start();
        // The reply may or may not make it back before nbdkit goes.
        let run = srv.py_run("connect().pread(512, 0)");
        println!("client after shutdown: {run}");
        let status = srv.wait_exit(Duration::from_secs(60));
        assert!(status.success(), "[{v}] nbdkit exit status after shutdown: {status}");
        assert_eq!(dir.record(), ["pread", "cleanup"], "[{v}] calls");
    });
}

/// nbdkit started with `parts` must exit non-zero, its output containing
/// every string in `wants`.
fn start_fails(parts: &[&str], wants: &[&str]) {
    for_each_variant(|v| {
        let dir = Dir::new();
        let run = Nbdkit::new(v, &dir, parts).arg("k=v").run(RUN_TIMEOUT).failed();
        let out = format!("{}{}", run.stdout, run.stderr);
        for want in wants {
            assert!(out.contains(want), "[{v}] output lacks {want:?}: {run}");
        }
    });
}

#[test]
fn config_raising_stops_nbdkit() {
    start_fails(
        &[V2_DISK, "
        def config(key, value):
            raise ValueError('bad key ' + key)
        "],
        &["plugin.py: config: error: Traceback", "ValueError: bad key k"],
    );
}

#[test]
fn config_complete_raising_stops_nbdkit() {
    start_fails(
        &[V2_DISK, "
        def config(key, value):
            pass
        def config_complete():
            raise RuntimeError('k is required to be w')
        "],
        &["plugin.py: config_complete: error: Traceback", "RuntimeError: k is required to be w"],
    );
}

#[test]
fn get_ready_raising_stops_nbdkit() {
    start_fails(
        &[V2_DISK, "
        def config(key, value):
            pass
        def get_ready():
            raise RuntimeError('not ready')
        "],
        &["plugin.py: get_ready: error: Traceback", "RuntimeError: not ready"],
    );
}

#[test]
fn close_is_called_for_every_connection() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[LIFECYCLE]).start();
        srv.py(
            "
            hs = [connect() for i in range(3)]
            for h in hs:
                h.pread(512, 0)
            ",
        );
        dir.wait_for_record(|r| r.iter().filter(|l| *l == "close").count() == 3);
        let (status, _) = srv.stop();
        assert!(status.success(), "[{v}] nbdkit exit status {status}");
        let rec = dir.record();
        assert_eq!(rec.iter().filter(|l| *l == "open False").count(), 3, "[{v}] {rec:?}");
    });
}
