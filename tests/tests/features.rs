//! Beyond the reference: features nbdkit's own Python plugin lacks. Every
//! scenario passes on ours and is shown to FAIL on the reference, so each
//! proves a real difference (see `differs`).

use conformance::*;
use std::time::Duration;

/// Runs `scenario` on every variant: it must succeed on ours and fail on
/// the reference (which lacks the feature). `why` names the feature.
fn differs(why: &str, scenario: impl Fn(&Variant) -> Result<(), String>) {
    println!("deliberate difference: {why}");
    for_each_variant(|v| {
        // On the reference, a scenario may also fail by panicking (nbdkit
        // refusing to start, say).
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| scenario(v)))
            .unwrap_or_else(|_| Err("the scenario panicked".into()));
        match (v.is_reference(), outcome) {
        (false, Ok(())) | (true, Err(_)) => {}
        (false, Err(e)) => panic!("[{v}] {why}: {e}"),
        (true, Ok(())) => panic!("[{v}] the reference passes a scenario meant to show that it lacks: {why}"),
        }
    });
}

fn check(ok: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what()) }
}

const META: &str = "
version = '2.5.1'
longname = 'Metadata test plugin'
description = 'A plugin that shows its own metadata'
def config_help():
    return 'size=<SIZE>  the disk size'
";

#[test]
fn script_metadata_in_version_help_and_dump_plugin() {
    differs("script version/longname/description/config_help shown by nbdkit", |v| {
        let dir = Dir::new();
        let parts = [V2_DISK, META];
        let version = Nbdkit::new(v, &dir, &parts).arg("--version").run(RUN_TIMEOUT);
        check(version.stdout.lines().any(|l| l == "python 2.5.1"), || format!("--version: {version}"))?;
        let help = Nbdkit::new(v, &dir, &parts).arg("--help").run(RUN_TIMEOUT);
        for want in ["Metadata test plugin", "A plugin that shows its own metadata", "size=<SIZE>  the disk size"] {
            check(help.stdout.contains(want), || format!("--help lacks {want:?}: {help}"))?;
        }
        let dump = Nbdkit::new(v, &dir, &parts).dump_plugin();
        check(dump.stdout.lines().any(|l| l == "version=2.5.1"), || format!("--dump-plugin: {dump}"))
    });
}

#[test]
fn magic_config_key_from_the_script() {
    differs("the script's magic_config_key takes bare parameters", |v| {
        let dir = Dir::new();
        let script = "
magic_config_key = 'file'
def config(key, value):
    record('config', key, value)
";
        let srv = Nbdkit::new(v, &dir, &[V2_DISK, script]).arg("disk.img").start();
        srv.py("connect().get_size()");
        let rec = dir.record();
        check(rec.contains(&"config file disk.img".to_string()), || format!("record: {rec:?}"))
    });
}

#[test]
fn load_and_unload_are_called() {
    differs("the script's load() and unload() run", |v| {
        let dir = Dir::new();
        let script = "
def load():
    record('load')
def unload():
    record('unload')
";
        let srv = Nbdkit::new(v, &dir, &[V2_DISK, script]).start();
        srv.py("connect().get_size()");
        let (_, log) = srv.stop();
        let rec = dir.record();
        check(rec.first().map(String::as_str) == Some("load") && rec.last().map(String::as_str) == Some("unload"), || {
            format!("record {rec:?}\n{}", tail(&log, 20))
        })
    });
}

#[test]
fn print_is_safe_under_dash_s() {
    differs("print() from the script does not corrupt nbdkit -s", |v| {
        let dir = Dir::new();
        let script = dir.write(
            "printing.py",
            format!(
                "{}\nprint('printed at load time')\ndef config_complete():\n    print('printed from config_complete')\n",
                dedent(V2_DISK)
            ),
        );
        let code = format!(
            "import nbd\nh = nbd.NBD()\nh.connect_command(['nbdkit', '-s', {:?}, {:?}])\nprint(h.get_size())\n",
            v.plugin().display().to_string(),
            script.display().to_string()
        );
        let client = dir.write("client.py", code);
        let mut cmd = tool("/usr/bin/python3");
        cmd.arg(&client);
        let run = run_in(dir.path(), &mut cmd, RUN_TIMEOUT);
        check(run.success() && run.stdout.trim() == "1048576", || format!("{run}"))?;
        check(run.stderr.contains("printed from config_complete"), || format!("the print went missing: {run}"))
    });
}

#[test]
fn newer_module_functions_on_nbdkit_1_32() {
    differs("the nbdkit module of nbdkit 1.34-1.45 on any nbdkit", |v| {
        let dir = Dir::new();
        let script = "
def config_complete():
    record('probability', nbdkit.parse_probability('p', '1:10'))
    record('delay', *nbdkit.parse_delay('d', '1.5ms'))
    record('bool', nbdkit.parse_bool('yes'), nbdkit.parse_bool('off'))
    record('stdio_safe', nbdkit.stdio_safe())
    try:
        nbdkit.parse_probability('p', 'nonsense')
    except ValueError:
        record('probability ValueError')
    try:
        nbdkit.parse_bool(3)
    except TypeError:
        record('parse_bool TypeError')
def preconnect(readonly):
    record('peer_pid', nbdkit.peer_pid() == os.getppid() or nbdkit.peer_pid() > 0)
    record('is_tls', nbdkit.is_tls())
    nbdkit.nanosleep(0, 1000)
    try:
        nbdkit.disconnect(False)
        record('disconnect ok')
    except NotImplementedError as e:
        record('disconnect NotImplementedError', '1.34' in str(e))
";
        let srv = Nbdkit::new(v, &dir, &[V2_DISK, script]).start();
        let run = srv.py_run("connect().get_size()");
        check(run.success(), || format!("client: {run}\n{}", tail(&srv.log(), 30)))?;
        let rec = dir.record();
        for want in [
            "probability 0.1",
            "delay 0 1500000",
            "bool True False",
            "stdio_safe True",
            "probability ValueError",
            "parse_bool TypeError",
            "peer_pid True",
            "is_tls False",
        ] {
            check(rec.iter().any(|l| l == want), || format!("record lacks {want:?}: {rec:?}\n{}", tail(&srv.log(), 30)))?;
        }
        check(rec.iter().any(|l| l == "disconnect ok" || l == "disconnect NotImplementedError True"), || {
            format!("disconnect: {rec:?}")
        })
    });
}

#[test]
fn python_logging_reaches_the_nbdkit_log() {
    differs("Python logging records in nbdkit's log, with level and logger name", |v| {
        let dir = Dir::new();
        let script = "
import logging
log = logging.getLogger('myplugin')
def config_complete():
    log.debug('a debug record')
    log.warning('a warning record')
";
        let srv = Nbdkit::new(v, &dir, &[V2_DISK, script]).start();
        let log = srv.log();
        for want in ["debug: DEBUG myplugin: a debug record", "error: WARNING myplugin: a warning record"] {
            check(log.contains(want), || format!("log lacks {want:?}:\n{}", tail(&log, 30)))?;
        }
        Ok(())
    });
}

#[test]
fn script_imports_its_neighbour_and_sees_its_path() {
    differs("the script's directory is on sys.path and sys.argv[0] is the script", |v| {
        let dir = Dir::new();
        dir.write("neighbour.py", "ANSWER = 42\n");
        let script = "
def config_complete():
    try:
        import neighbour
        record('import', neighbour.ANSWER)
    except ImportError as e:
        record('import failed', e)
    record('argv0', os.path.basename(sys.argv[0]))
";
        let srv = Nbdkit::new(v, &dir, &[V2_DISK, script]).start();
        srv.py("connect().get_size()");
        let rec = dir.record();
        check(rec.contains(&"import 42".to_string()), || format!("record: {rec:?}"))?;
        check(rec.iter().any(|l| l.starts_with("argv0 ") && l.ends_with(".py")), || format!("record: {rec:?}"))
    });
}

#[test]
fn thread_started_at_load_does_not_deadlock_the_daemon() {
    // nbdkit forks to daemonize after loading the script; a Python thread
    // running at that moment can hold the interpreter lock in the child.
    // Ours re-creates the lock in the child. The reference deadlocks only
    // sometimes, so it is skipped rather than shown to fail.
    for_each_variant_differing_from_reference("the daemon child re-creates the interpreter lock", |v| {
        let dir = Dir::new();
        let script = "
import threading
def spin():
    while True:
        sum(range(1000))
threading.Thread(target=spin, daemon=True).start()
time.sleep(0.2)
";
        let parts = [V2_DISK, script];
        let nbdkit = Nbdkit::new(v, &dir, &parts);
        let script_path = nbdkit.write_script();
        let sock = dir.join("d.sock");
        let pid = dir.join("d.pid");
        let mut cmd = tool("nbdkit");
        cmd.arg("-U").arg(&sock).arg("-P").arg(&pid).arg(v.plugin()).arg(&script_path);
        let started = run_in(dir.path(), &mut cmd, RUN_TIMEOUT);
        assert!(started.success(), "[{v}] {started}");
        let mut client = tool("nbdinfo");
        client.arg("--size").arg(format!("nbd+unix:///?socket={}", sock.display()));
        let run = run_in(dir.path(), &mut client, Duration::from_secs(30));
        if let Ok(p) = std::fs::read_to_string(&pid) {
            let _ = std::process::Command::new("kill").arg(p.trim()).status();
        }
        assert_eq!(run.stdout.trim(), "1048576", "[{v}] {run}");
    });
}
