//! `cargo xtask bench`: our plugin against nbdkit's own Python plugin and
//! the `memory` plugin, measured with real NBD clients.
//!
//! One run serves the same ramdisk script (`bench/ramdisk.py`, 256 MiB
//! bytearray) through every server, in THREAD_MODEL_PARALLEL and in the
//! default thread model, and measures each with fio's nbd engine and
//! nbdcopy.  Rounds alternate the servers inside every test (reference,
//! ours, memory, reference, ours, ...) so drift on a noisy machine hits all
//! of them alike; the report gives medians over rounds.  The full run also
//! counts instructions per 4 KiB read under callgrind, a figure that does
//! not depend on the machine's noise.
//!
//! Nothing here asserts a timing: the targets get a PASS/MISS column and
//! the exit code is 0 either way.  A measurement that fails (a server that
//! does not start, fio erroring out) does make the command fail, so the
//! `--quick` run in CI keeps the benchmark itself working.
//!
//! Output: a table on stdout, and the same figures as JSON in
//! `target/bench/bench-<unix time>.json` and `target/bench/latest.json`
//! (plus `latest.txt`, the printed table; callgrind's output files stay in
//! `target/bench/callgrind/` for `callgrind_annotate`).

use crate::build::{self, Backend};
use crate::deps;
use crate::util::{self, Args};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod json;

use json::Json;

/// The ramdisk script (with its PARALLEL `thread_model()`).
const RAMDISK_PY: &str = include_str!("bench/ramdisk.py");
/// The callgrind client (N synchronous 4 KiB reads).
const CLIENT_PY: &str = include_str!("bench/client.py");
/// Size of the ramdisk in `ramdisk.py`, and of the `memory` plugin's disk.
const DISK_SIZE: u64 = 256 << 20;
/// The Python that has the `nbd` module (the `python3` on PATH may not).
const SYSTEM_PYTHON: &str = "/usr/bin/python3";

type Res<T> = util::Result<T>;

const USAGE: &str = "\
usage: cargo xtask bench [--quick] [--rounds N] [--runtime SECS] [--ramp SECS]
                         [--callgrind | --no-callgrind] [--callgrind-reads N]
                         [--no-build]

Installs missing Debian packages, builds every available backend, then
measures Debian's python plugin (the reference), ours on each backend
built (target/plugin/<backend>/), and nbdkit's memory plugin.

  --quick              one round, 1 s per measurement, no warm-up, no callgrind
                       (what CI runs: it checks that the benchmark works)
  --rounds N           rounds of every measurement (default 3; medians reported)
  --runtime SECS       seconds per measurement (default 4)
  --ramp SECS          warm-up seconds before each measurement (default 1)
  --callgrind          count instructions per 4 KiB read under callgrind
                       (default in the full run; slow: a few minutes)
  --no-callgrind       skip it
  --callgrind-reads N  reads per callgrind run (default 20000)
  --no-build           measure the plugins as they are (no apt-get, no cargo)
";

#[derive(Debug, Clone)]
struct Opts {
    quick: bool,
    /// Install missing Debian packages and build the plugins first.
    build: bool,
    rounds: usize,
    runtime: Duration,
    ramp: Duration,
    callgrind: bool,
    callgrind_reads: u64,
}

fn parse_opts(args: &[String]) -> Res<Opts> {
    let mut a = Args::new(args);
    let quick = a.flag("--quick");
    let mut o = Opts {
        quick,
        build: !a.flag("--no-build"),
        rounds: if quick { 1 } else { 3 },
        runtime: Duration::from_secs(if quick { 1 } else { 4 }),
        ramp: if quick {
            Duration::ZERO
        } else {
            Duration::from_secs(1)
        },
        callgrind: !quick,
        callgrind_reads: 20_000,
    };
    let secs = |s: String| -> Res<Duration> {
        s.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| format!("bad number of seconds: {s}").into())
    };
    if let Some(v) = a.value("--rounds")? {
        o.rounds = v.parse().map_err(|_| format!("bad --rounds {v}"))?;
    }
    if let Some(v) = a.value("--runtime")? {
        o.runtime = secs(v)?;
    }
    if let Some(v) = a.value("--ramp")? {
        o.ramp = secs(v)?;
    }
    if a.flag("--callgrind") {
        o.callgrind = true;
    }
    if a.flag("--no-callgrind") {
        o.callgrind = false;
    }
    if let Some(v) = a.value("--callgrind-reads")? {
        o.callgrind_reads = v
            .parse()
            .map_err(|_| format!("bad --callgrind-reads {v}"))?;
    }
    let (rest, after) = a.finish()?;
    if !rest.is_empty() || !after.is_empty() {
        return Err(format!("unexpected arguments {rest:?} {after:?}\n{USAGE}").into());
    }
    if o.rounds == 0 || o.runtime < Duration::from_millis(100) || o.callgrind_reads == 0 {
        return Err(format!(
            "--rounds and --callgrind-reads must be > 0, --runtime >= 0.1\n{USAGE}"
        )
        .into());
    }
    Ok(o)
}

// ---------------------------------------------------------------------------
// Servers

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Model {
    Parallel,
    Default,
}

impl Model {
    const ALL: [Model; 2] = [Model::Parallel, Model::Default];
    fn name(self) -> &'static str {
        match self {
            Model::Parallel => "parallel",
            Model::Default => "default",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Reference,
    Cpython,
    Rustpython,
    Memory,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Reference => "reference",
            Kind::Cpython => "cpython",
            Kind::Rustpython => "rustpython",
            Kind::Memory => "memory",
        }
    }
}

/// One nbdkit command line.  `model` is None for `memory` (no script).
#[derive(Debug, Clone)]
struct Spec {
    kind: Kind,
    model: Option<Model>,
    /// Arguments after `nbdkit -f -U SOCK -P PIDFILE`.
    args: Vec<String>,
}

impl Spec {
    fn key(&self) -> String {
        match self.model {
            Some(m) => format!("{}/{}", self.kind.name(), m.name()),
            None => self.kind.name().to_string(),
        }
    }
}

/// Where everything of this run lives; removed when dropped.
struct Workdir(PathBuf);

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A started nbdkit; stopped (SIGTERM, then SIGKILL) when dropped.
struct Server {
    child: Child,
    sock: PathBuf,
    log: PathBuf,
}

impl Server {
    fn uri(&self) -> String {
        format!("nbd+unix:///?socket={}", self.sock.display())
    }

    fn check_alive(&mut self) -> Res<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(st)) => Err(format!("nbdkit exited ({st}); log:\n{}", tail(&self.log)).into()),
            Err(e) => Err(format!("nbdkit: {e}").into()),
        }
    }

    /// SIGTERM (nbdkit shuts down cleanly, so valgrind writes its output),
    /// then SIGKILL after `grace`.
    fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        if let Ok(Some(st)) = self.child.try_wait() {
            return Some(st);
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let t0 = Instant::now();
        while t0.elapsed() < grace {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        self.child.wait().ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(10));
    }
}

fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// Start `[prefix...] nbdkit -f -U sock -P pidfile args...` and wait until
/// nbdkit has written its pid file (it does so once it accepts connections).
fn start_server(
    dir: &Path,
    name: &str,
    prefix: &[String],
    args: &[String],
    timeout: Duration,
) -> Res<Server> {
    let sock = dir.join(format!("{name}.sock"));
    let pidfile = dir.join(format!("{name}.pid"));
    let log = dir.join(format!("{name}.log"));
    let _ = fs::remove_file(&sock);
    let _ = fs::remove_file(&pidfile);
    let logf = fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let logf2 = logf.try_clone().map_err(|e| e.to_string())?;
    let mut argv: Vec<String> = prefix.to_vec();
    argv.extend(["nbdkit", "-f", "--exit-with-parent", "-U"].map(String::from));
    argv.push(sock.display().to_string());
    argv.push("-P".into());
    argv.push(pidfile.display().to_string());
    argv.extend(args.iter().cloned());
    let child = Command::new(&argv[0])
        .args(&argv[1..])
        .env("PATH", util::debian_path())
        .stdin(Stdio::null())
        .stdout(logf)
        .stderr(logf2)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", argv[0]))?;
    let mut server = Server { child, sock, log };
    let t0 = Instant::now();
    loop {
        if fs::metadata(&pidfile).map(|m| m.len() > 0).unwrap_or(false) && server.sock.exists() {
            return Ok(server);
        }
        server
            .check_alive()
            .map_err(|e| format!("{}: {e}", argv.join(" ")))?;
        if t0.elapsed() > timeout {
            return Err(format!(
                "{}: not ready after {timeout:?}; log:\n{}",
                argv.join(" "),
                tail(&server.log)
            )
            .into());
        }
        sleep(Duration::from_millis(20));
    }
}

/// Runs `cmd` with Debian's directories first on PATH (the `python3` first
/// on a developer's PATH may lack the `nbd` module); its stdout.
fn output(cmd: &mut Command) -> Res<String> {
    util::output(cmd.env("PATH", util::debian_path()).stdin(Stdio::null()))
}

// ---------------------------------------------------------------------------
// Tests

#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    Iops,
    MBps,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Iops => "IOPS",
            Unit::MBps => "MB/s",
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Client {
    /// fio's nbd engine; `jobs` connections (numjobs, group_reporting).
    Fio {
        rw: &'static str,
        bs: &'static str,
        iodepth: u32,
        jobs: u32,
    },
    /// `nbdcopy URI null:`, repeated for the runtime; MB/s.
    Nbdcopy,
}

#[derive(Debug, Clone, Copy)]
struct Test {
    id: &'static str,
    what: &'static str,
    unit: Unit,
    client: Client,
}

const TESTS: [Test; 6] = [
    Test {
        id: "randread-4k",
        what: "fio 4 KiB randread, iodepth 16, 1 connection",
        unit: Unit::Iops,
        client: Client::Fio {
            rw: "randread",
            bs: "4k",
            iodepth: 16,
            jobs: 1,
        },
    },
    Test {
        id: "randwrite-4k",
        what: "fio 4 KiB randwrite, iodepth 16, 1 connection",
        unit: Unit::Iops,
        client: Client::Fio {
            rw: "randwrite",
            bs: "4k",
            iodepth: 16,
            jobs: 1,
        },
    },
    Test {
        id: "randread-4k-4conn",
        what: "fio 4 KiB randread, iodepth 16, 4 connections (numjobs=4)",
        unit: Unit::Iops,
        client: Client::Fio {
            rw: "randread",
            bs: "4k",
            iodepth: 16,
            jobs: 4,
        },
    },
    Test {
        id: "seqread-1m",
        what: "fio 1 MiB sequential read, iodepth 4, 1 connection",
        unit: Unit::MBps,
        client: Client::Fio {
            rw: "read",
            bs: "1m",
            iodepth: 4,
            jobs: 1,
        },
    },
    Test {
        id: "seqwrite-1m",
        what: "fio 1 MiB sequential write, iodepth 4, 1 connection",
        unit: Unit::MBps,
        client: Client::Fio {
            rw: "write",
            bs: "1m",
            iodepth: 4,
            jobs: 1,
        },
    },
    Test {
        id: "nbdcopy",
        what: "nbdcopy of the 256 MiB export to null: (its defaults: multi-conn 4)",
        unit: Unit::MBps,
        client: Client::Nbdcopy,
    },
];

fn ms(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// Run fio against `uri` and return its (group-reported) job object.
fn fio(
    uri: &str,
    rw: &str,
    bs: &str,
    iodepth: u32,
    jobs: u32,
    timed: Option<(Duration, Duration)>,
) -> Res<Json> {
    let mut cmd = Command::new("fio");
    cmd.args([
        "--name=bench",
        "--ioengine=nbd",
        &format!("--uri={uri}"),
        &format!("--rw={rw}"),
        &format!("--bs={bs}"),
        &format!("--iodepth={iodepth}"),
        &format!("--numjobs={jobs}"),
        &format!("--size={DISK_SIZE}"),
        "--group_reporting",
        "--output-format=json",
    ]);
    if let Some((runtime, ramp)) = timed {
        cmd.args(["--time_based", &format!("--runtime={}", ms(runtime))]);
        if !ramp.is_zero() {
            cmd.arg(format!("--ramp_time={}", ms(ramp)));
        }
    }
    let text = output(&mut cmd)?;
    // fio may print lines ("fio: connected to NBD server") before the JSON.
    let start = text
        .find("\n{")
        .map(|i| i + 1)
        .or_else(|| text.starts_with('{').then_some(0));
    let doc = json::parse(&text[start.ok_or_else(|| format!("fio printed no JSON:\n{text}"))?..])?;
    let job = doc
        .get("jobs")
        .and_then(|j| j.at(0))
        .cloned()
        .ok_or("fio JSON has no jobs")?;
    match job.get("error").and_then(Json::as_f64) {
        Some(e) if e != 0.0 => Err(format!("fio job error {e} (errno)").into()),
        _ => Ok(job),
    }
}

/// Fill the whole disk with fio's (non-zero) data, 1 MiB writes, so that
/// every server reads real data (the memory plugin is sparse otherwise, and
/// nbdcopy would skip its holes).
fn prefill(uri: &str) -> Res<()> {
    fio(uri, "write", "1m", 4, 1, None).map(|_| ())
}

fn measure(test: &Test, uri: &str, runtime: Duration, ramp: Duration) -> Res<f64> {
    match test.client {
        Client::Fio {
            rw,
            bs,
            iodepth,
            jobs,
        } => {
            let job = fio(uri, rw, bs, iodepth, jobs, Some((runtime, ramp)))?;
            let dir = if rw.contains("write") {
                "write"
            } else {
                "read"
            };
            let field = if test.unit == Unit::Iops {
                "iops"
            } else {
                "bw_bytes"
            };
            let v = job
                .path(&[dir, field])
                .and_then(Json::as_f64)
                .ok_or_else(|| format!("fio JSON has no {dir}.{field}"))?;
            Ok(if test.unit == Unit::Iops { v } else { v / 1e6 })
        }
        Client::Nbdcopy => {
            let copy = || output(Command::new("nbdcopy").args([uri, "null:"])).map(|_| ());
            if !ramp.is_zero() {
                copy()?;
            }
            let t0 = Instant::now();
            let mut n = 0u64;
            while n == 0 || t0.elapsed() < runtime {
                copy()?;
                n += 1;
            }
            Ok((n * DISK_SIZE) as f64 / t0.elapsed().as_secs_f64() / 1e6)
        }
    }
}

// ---------------------------------------------------------------------------
// Plugins and the run

struct Plugins {
    reference: PathBuf,
    cpython: PathBuf,
    rustpython: Option<PathBuf>,
    /// Where the copies came from, for the report.
    origin: Vec<(Kind, PathBuf)>,
}

/// Debian's python plugin: the `.debian` copy if `cargo xtask install` has
/// replaced the original, else the original (which must not be ours).
fn reference_plugin() -> Res<PathBuf> {
    let installed = util::plugindir()?.join(util::PLUGIN_FILE);
    let kept = installed.with_file_name(format!("{}.debian", util::PLUGIN_FILE));
    if kept.exists() {
        return Ok(kept);
    }
    if !installed.exists() {
        return Err(format!(
            "{} missing (apt-get install nbdkit-plugin-python)",
            installed.display()
        )
        .into());
    }
    if util::is_ours(&installed)? {
        return Err(format!(
            "{} is ours and Debian's was not kept: no reference to measure \
             (apt-get install --reinstall nbdkit-plugin-python)",
            installed.display()
        )
        .into());
    }
    Ok(installed)
}

/// Copy the plugins into the work dir: a rebuild by someone else during
/// the run must not change (or crash) the servers being measured.
fn stage_plugins(work: &Path, with_rustpython: bool) -> Res<Plugins> {
    let mut origin = Vec::new();
    let mut stage = |kind: Kind, src: PathBuf| -> Res<PathBuf> {
        let d = work.join(kind.name());
        fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        let dst = d.join(util::PLUGIN_FILE);
        fs::copy(&src, &dst).map_err(|e| format!("copy {}: {e}", src.display()))?;
        origin.push((kind, src));
        Ok(dst)
    };
    let reference = stage(Kind::Reference, reference_plugin()?)?;
    let ours = Backend::Cpython.plugin_path();
    if !ours.exists() {
        return Err(format!("{} missing: run `cargo xtask build`", ours.display()).into());
    }
    let cpython = stage(Kind::Cpython, ours)?;
    let rp = Backend::Rustpython.plugin_path();
    let rustpython = if with_rustpython && rp.exists() {
        Some(stage(Kind::Rustpython, rp)?)
    } else {
        None
    };
    Ok(Plugins {
        reference,
        cpython,
        rustpython,
        origin,
    })
}

/// The ramdisk script for a thread model.
fn script(model: Model) -> String {
    match model {
        Model::Parallel => RAMDISK_PY.to_string(),
        Model::Default => {
            let def = "def thread_model():\n    return nbdkit.THREAD_MODEL_PARALLEL\n";
            assert!(
                RAMDISK_PY.contains(def),
                "ramdisk.py must define thread_model() as expected"
            );
            RAMDISK_PY.replace(def, "# (no thread_model(): the plugin's default)\n")
        }
    }
}

/// The Python servers (reference, cpython, rustpython when built) for a model.
fn python_specs(plugins: &Plugins, scripts: &BTreeMap<Model, PathBuf>, model: Model) -> Vec<Spec> {
    let s = scripts[&model].display().to_string();
    let mut v = vec![
        Spec {
            kind: Kind::Reference,
            model: Some(model),
            args: vec![plugins.reference.display().to_string(), s.clone()],
        },
        Spec {
            kind: Kind::Cpython,
            model: Some(model),
            args: vec![plugins.cpython.display().to_string(), s.clone()],
        },
    ];
    if let Some(rp) = &plugins.rustpython {
        v.push(Spec {
            kind: Kind::Rustpython,
            model: Some(model),
            args: vec![rp.display().to_string(), s],
        });
    }
    v
}

fn memory_spec() -> Spec {
    Spec {
        kind: Kind::Memory,
        model: None,
        args: vec!["memory".into(), format!("{DISK_SIZE}")],
    }
}

/// Samples per (test id, server key).
type Samples = BTreeMap<(String, String), Vec<f64>>;

fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    Some(if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    })
}

/// One round: start every server, pre-fill each disk, then for every test
/// measure the servers in turn (ref, ours..., memory, per thread model).
fn round(
    o: &Opts,
    work: &Path,
    schedule: &[Spec],
    r: usize,
    samples: &mut Samples,
    errors: &mut Vec<String>,
) -> Res<()> {
    let mut servers: BTreeMap<String, Server> = BTreeMap::new();
    for spec in schedule {
        let key = spec.key();
        if servers.contains_key(&key) {
            continue;
        }
        let name = key.replace('/', "-");
        let mut server = start_server(work, &name, &[], &spec.args, Duration::from_secs(60))?;
        prefill(&server.uri()).map_err(|e| format!("pre-fill {key}: {e}"))?;
        server.check_alive()?;
        servers.insert(key, server);
    }
    for test in &TESTS {
        for spec in schedule {
            let key = spec.key();
            let server = servers.get_mut(&key).expect("started above");
            let result = server
                .check_alive()
                .and_then(|()| measure(test, &server.uri(), o.runtime, o.ramp));
            match result {
                Ok(v) => {
                    eprintln!(
                        "bench: round {}/{} {:<18} {:<20} {:>12.1} {}",
                        r + 1,
                        o.rounds,
                        test.id,
                        key,
                        v,
                        test.unit.name()
                    );
                    samples
                        .entry((test.id.to_string(), key))
                        .or_default()
                        .push(v);
                }
                Err(e) => {
                    eprintln!("bench: round {} {} {key}: FAILED: {e}", r + 1, test.id);
                    errors.push(format!("round {} {} {key}: {e}", r + 1, test.id));
                }
            }
        }
    }
    for (_, mut s) in servers {
        s.stop(Duration::from_secs(10));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Callgrind

struct CgResult {
    kind: Kind,
    model: Model,
    reads: u64,
    baseline: u64,
    total: u64,
}

impl CgResult {
    fn per_read(&self) -> f64 {
        (self.total as f64 - self.baseline as f64) / self.reads as f64
    }
}

/// Total instructions (`summary:`/`totals:` line) of a callgrind out file.
fn callgrind_total(path: &Path) -> Res<u64> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("{}: no summary line", path.display()).into())
}

/// nbdkit under callgrind, `reads` 4 KiB reads from the Python client, then
/// SIGTERM; returns the instructions of the whole nbdkit process.
fn callgrind_run(work: &Path, outdir: &Path, client: &Path, spec: &Spec, reads: u64) -> Res<u64> {
    let name = format!("{}-{reads}", spec.key().replace('/', "-"));
    let out = outdir.join(format!("{name}.out"));
    let _ = fs::remove_file(&out);
    let prefix = ["valgrind", "--tool=callgrind", "--trace-children=no"]
        .map(String::from)
        .into_iter()
        .chain([format!("--callgrind-out-file={}", out.display())])
        .collect::<Vec<_>>();
    let mut server = start_server(
        work,
        &format!("cg-{name}"),
        &prefix,
        &spec.args,
        Duration::from_secs(300),
    )?;
    let sock = server.sock.display().to_string();
    output(Command::new(SYSTEM_PYTHON).args([
        &client.display().to_string(),
        &sock,
        &reads.to_string(),
    ]))?;
    let st = server.stop(Duration::from_secs(300));
    if !st.map(|s| s.success()).unwrap_or(false) {
        return Err(format!(
            "nbdkit under valgrind exited with {st:?}; log:\n{}",
            tail(&server.log)
        )
        .into());
    }
    callgrind_total(&out)
}

fn callgrind(
    o: &Opts,
    work: &Path,
    outdir: &Path,
    plugins: &Plugins,
    scripts: &BTreeMap<Model, PathBuf>,
) -> Res<Vec<CgResult>> {
    output(Command::new(SYSTEM_PYTHON).args(["-c", "import nbd"])).map_err(|e| {
        format!("{SYSTEM_PYTHON} has no nbd module (apt-get install python3-libnbd): {e}")
    })?;
    fs::create_dir_all(outdir).map_err(|e| e.to_string())?;
    let client = work.join("client.py");
    fs::write(&client, CLIENT_PY).map_err(|e| e.to_string())?;
    let mut results = Vec::new();
    for model in Model::ALL {
        for spec in python_specs(plugins, scripts, model) {
            eprintln!(
                "bench: callgrind {} (0 and {} reads)...",
                spec.key(),
                o.callgrind_reads
            );
            let baseline = callgrind_run(work, outdir, &client, &spec, 0)?;
            let total = callgrind_run(work, outdir, &client, &spec, o.callgrind_reads)?;
            let r = CgResult {
                kind: spec.kind,
                model,
                reads: o.callgrind_reads,
                baseline,
                total,
            };
            eprintln!(
                "bench: callgrind {}: {:.0} instructions per read",
                spec.key(),
                r.per_read()
            );
            results.push(r);
        }
    }
    Ok(results)
}

// ---------------------------------------------------------------------------
// Report

struct Row {
    test: &'static Test,
    model: Option<Model>,
    kind: Kind,
    samples: Vec<f64>,
    median: Option<f64>,
    vs_ref: Option<f64>,
    vs_mem: Option<f64>,
}

struct Target {
    what: String,
    value: Option<f64>,
    goal: f64,
}

impl Target {
    fn status(&self) -> &'static str {
        match self.value {
            Some(v) if v >= self.goal => "PASS",
            Some(_) => "MISS",
            None => "n/a",
        }
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn rows(samples: &Samples, kinds: &[Kind]) -> Vec<Row> {
    let get = |t: &str, key: &str| {
        samples
            .get(&(t.to_string(), key.to_string()))
            .cloned()
            .unwrap_or_default()
    };
    let mut rows = Vec::new();
    for test in &TESTS {
        let mem = median(&get(test.id, "memory"));
        for model in Model::ALL {
            let refm = median(&get(test.id, &format!("reference/{}", model.name())));
            for &kind in kinds.iter().filter(|k| **k != Kind::Memory) {
                let s = get(test.id, &format!("{}/{}", kind.name(), model.name()));
                let m = median(&s);
                rows.push(Row {
                    test,
                    model: Some(model),
                    kind,
                    samples: s,
                    median: m,
                    vs_ref: ratio(m, refm),
                    vs_mem: ratio(m, mem),
                });
            }
        }
        let s = get(test.id, "memory");
        rows.push(Row {
            test,
            model: None,
            kind: Kind::Memory,
            samples: s,
            median: mem,
            vs_ref: None,
            vs_mem: Some(1.0),
        });
    }
    rows
}

fn targets(rows: &[Row], have_rustpython: bool) -> Vec<Target> {
    let find = |test: &str, kind: Kind, model: Model| {
        rows.iter()
            .find(|r| r.test.id == test && r.kind == kind && r.model == Some(model))
    };
    let mut t = Vec::new();
    let mut add =
        |what: String, value: Option<f64>, goal: f64| t.push(Target { what, value, goal });
    let p = Model::Parallel;
    let d = Model::Default;
    add(
        "cpython randread-4k parallel, x reference".into(),
        find("randread-4k", Kind::Cpython, p).and_then(|r| r.vs_ref),
        4.0,
    );
    add(
        "cpython randread-4k parallel, x memory".into(),
        find("randread-4k", Kind::Cpython, p).and_then(|r| r.vs_mem),
        0.8,
    );
    add(
        "cpython randread-4k default, x reference".into(),
        find("randread-4k", Kind::Cpython, d).and_then(|r| r.vs_ref),
        2.0,
    );
    for test in ["seqread-1m", "seqwrite-1m"] {
        for m in Model::ALL {
            add(
                format!("cpython {test} {}, x reference", m.name()),
                find(test, Kind::Cpython, m).and_then(|r| r.vs_ref),
                1.0,
            );
        }
    }
    add(
        format!(
            "rustpython randread-4k parallel, x reference{}",
            if have_rustpython { "" } else { " (not built)" }
        ),
        find("randread-4k", Kind::Rustpython, p).and_then(|r| r.vs_ref),
        2.0,
    );
    t
}

fn fmt_val(v: Option<f64>, unit: Unit) -> String {
    match v {
        None => "-".into(),
        Some(v) if unit == Unit::Iops => {
            // thousands separators for IOPS
            let n = v.round() as u64;
            let s = n.to_string();
            let mut out = String::new();
            for (i, c) in s.chars().enumerate() {
                if i > 0 && (s.len() - i).is_multiple_of(3) {
                    out.push(',');
                }
                out.push(c);
            }
            out
        }
        Some(v) => format!("{v:.0}"),
    }
}

fn fmt_ratio(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}x")).unwrap_or_else(|| "-".into())
}

fn spread(s: &[f64]) -> String {
    match (median(s), s.len()) {
        (Some(m), n) if n > 1 && m > 0.0 => {
            let lo = s.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            format!("±{:.0}%", (hi - lo) / 2.0 / m * 100.0)
        }
        _ => "".into(),
    }
}

fn table(header: &str, rows: &[Row], targets: &[Target], cg: &[CgResult]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{header}");
    let _ = writeln!(
        s,
        "{:<18} {:<9} {:<11} {:>10} {:<5} {:>7} {:>7} {:>6}",
        "test", "model", "server", "median", "unit", "x ref", "x mem", "spread"
    );
    let mut last = "";
    for r in rows {
        if r.test.id != last && !last.is_empty() {
            let _ = writeln!(s);
        }
        last = r.test.id;
        let _ = writeln!(
            s,
            "{:<18} {:<9} {:<11} {:>10} {:<5} {:>7} {:>7} {:>6}",
            r.test.id,
            r.model.map(Model::name).unwrap_or("-"),
            r.kind.name(),
            fmt_val(r.median, r.test.unit),
            r.test.unit.name(),
            fmt_ratio(r.vs_ref),
            fmt_ratio(r.vs_mem),
            spread(&r.samples),
        );
    }
    let _ = writeln!(s, "\ntests:");
    for t in &TESTS {
        let _ = writeln!(s, "  {:<18} {}", t.id, t.what);
    }
    if !cg.is_empty() {
        let _ = writeln!(
            s,
            "\ncallgrind: instructions per 4 KiB read (nbdkit process, (N reads - 0 reads) / N)"
        );
        let _ = writeln!(
            s,
            "{:<9} {:<11} {:>8} {:>14} {:>14} {:>10} {:>7}",
            "model", "server", "reads", "0 reads", "N reads", "per read", "x ref"
        );
        for r in cg {
            let refr = cg
                .iter()
                .find(|x| x.kind == Kind::Reference && x.model == r.model);
            let _ = writeln!(
                s,
                "{:<9} {:<11} {:>8} {:>14} {:>14} {:>10.0} {:>7}",
                r.model.name(),
                r.kind.name(),
                r.reads,
                r.baseline,
                r.total,
                r.per_read(),
                fmt_ratio(refr.map(|x| r.per_read() / x.per_read())),
            );
        }
    }
    let _ = writeln!(s, "\ntargets (informational):");
    for t in targets {
        let _ = writeln!(
            s,
            "  {:<52} {:>7}  goal >= {:<5} {}",
            t.what,
            fmt_ratio(t.value),
            format!("{:.1}x", t.goal),
            t.status()
        );
    }
    s
}

#[allow(clippy::too_many_arguments)]
fn to_json(
    o: &Opts,
    unix: u64,
    machine: &[(&str, String)],
    plugins: &Plugins,
    rows: &[Row],
    targets: &[Target],
    cg: &[CgResult],
    errors: &[String],
) -> String {
    use json::{num, quote};
    let mut s = String::from("{\n");
    let _ = writeln!(s, "  \"unix_time\": {unix},");
    let _ = writeln!(s, "  \"quick\": {},", o.quick);
    let _ = writeln!(s, "  \"rounds\": {},", o.rounds);
    let _ = writeln!(s, "  \"runtime_s\": {},", o.runtime.as_secs_f64());
    let _ = writeln!(s, "  \"ramp_s\": {},", o.ramp.as_secs_f64());
    let _ = writeln!(s, "  \"disk_bytes\": {DISK_SIZE},");
    let m: Vec<String> = machine
        .iter()
        .map(|(k, v)| format!("{}: {}", quote(k), quote(v)))
        .collect();
    let _ = writeln!(s, "  \"machine\": {{{}}},", m.join(", "));
    let p: Vec<String> = plugins
        .origin
        .iter()
        .map(|(k, p)| format!("{}: {}", quote(k.name()), quote(&p.display().to_string())))
        .collect();
    let _ = writeln!(s, "  \"plugins\": {{{}}},", p.join(", "));
    let tests: Vec<String> = TESTS
        .iter()
        .map(|t| {
            format!(
                "    {{\"id\": {}, \"what\": {}, \"unit\": {}}}",
                quote(t.id),
                quote(t.what),
                quote(t.unit.name())
            )
        })
        .collect();
    let _ = writeln!(s, "  \"tests\": [\n{}\n  ],", tests.join(",\n"));
    let res: Vec<String> = rows
        .iter()
        .map(|r| {
            let samples: Vec<String> = r.samples.iter().map(|v| num(Some(*v))).collect();
            format!(
                "    {{\"test\": {}, \"model\": {}, \"server\": {}, \"unit\": {}, \"median\": {}, \"vs_reference\": {}, \"vs_memory\": {}, \"samples\": [{}]}}",
                quote(r.test.id),
                r.model.map(|m| quote(m.name())).unwrap_or_else(|| "null".into()),
                quote(r.kind.name()),
                quote(r.test.unit.name()),
                num(r.median),
                num(r.vs_ref),
                num(r.vs_mem),
                samples.join(", ")
            )
        })
        .collect();
    let _ = writeln!(s, "  \"results\": [\n{}\n  ],", res.join(",\n"));
    let cgs: Vec<String> = cg
        .iter()
        .map(|r| {
            format!(
                "    {{\"model\": {}, \"server\": {}, \"reads\": {}, \"instructions_0_reads\": {}, \"instructions_n_reads\": {}, \"instructions_per_read\": {}}}",
                quote(r.model.name()),
                quote(r.kind.name()),
                r.reads,
                r.baseline,
                r.total,
                num(Some((r.per_read() * 10.0).round() / 10.0))
            )
        })
        .collect();
    let _ = writeln!(
        s,
        "  \"callgrind\": [{}{}],",
        if cgs.is_empty() { "" } else { "\n" },
        cgs.join(",\n") + if cgs.is_empty() { "" } else { "\n  " }
    );
    let ts: Vec<String> = targets
        .iter()
        .map(|t| {
            format!(
                "    {{\"target\": {}, \"value\": {}, \"goal\": {}, \"status\": {}}}",
                quote(&t.what),
                num(t.value),
                num(Some(t.goal)),
                quote(t.status())
            )
        })
        .collect();
    let _ = writeln!(s, "  \"targets\": [\n{}\n  ],", ts.join(",\n"));
    let es: Vec<String> = errors.iter().map(|e| format!("    {}", quote(e))).collect();
    let _ = writeln!(
        s,
        "  \"errors\": [{}{}]",
        if es.is_empty() { "" } else { "\n" },
        es.join(",\n") + if es.is_empty() { "" } else { "\n  " }
    );
    s.push_str("}\n");
    s
}

fn first_line(cmd: &str, arg: &str) -> String {
    Command::new(cmd)
        .arg(arg)
        .env("PATH", util::debian_path())
        .output()
        .ok()
        .map(|o| {
            let t = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&t)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

fn machine_info() -> Vec<(&'static str, String)> {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_default();
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    vec![
        ("cpu", cpu),
        ("nproc", nproc.to_string()),
        ("nbdkit", first_line("nbdkit", "--version")),
        ("fio", first_line("fio", "--version")),
        ("nbdcopy", first_line("nbdcopy", "--version")),
        ("valgrind", first_line("valgrind", "--version")),
        ("loadavg_start", loadavg()),
    ]
}

/// The 1, 5 and 15 minute load averages: how busy the machine was, since
/// other work on it skews every figure but the callgrind ones.
fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// `cargo xtask bench [options]`.
pub fn main(args: &[String]) -> ExitCode {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: bench: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Res<()> {
    let o = parse_opts(args)?;
    // A RustPython build that fails (work in progress) is left out of the
    // run rather than measured from a stale file.
    let mut rustpython_ok = true;
    if o.build {
        deps::ensure()?;
        build::build(&[Backend::Cpython])?;
        if Backend::Rustpython.available() {
            if let Err(e) = build::build(&[Backend::Rustpython]) {
                eprintln!("xtask: bench: rustpython does not build, not measured: {e}");
                rustpython_ok = false;
            }
        }
    }
    for tool in ["nbdkit", "fio", "nbdcopy"] {
        output(Command::new(tool).arg("--version"))
            .map_err(|e| format!("{tool} is needed: {e}"))?;
    }
    let outdir = util::target_dir().join("bench");
    fs::create_dir_all(&outdir).map_err(|e| format!("{}: {e}", outdir.display()))?;

    let work = Workdir(std::env::temp_dir().join(format!("xtask-bench-{}", std::process::id())));
    fs::create_dir_all(&work.0).map_err(|e| format!("{}: {e}", work.0.display()))?;
    let plugins = stage_plugins(&work.0, rustpython_ok)?;
    let mut scripts = BTreeMap::new();
    for model in Model::ALL {
        let p = work.0.join(format!("ramdisk-{}.py", model.name()));
        fs::write(&p, script(model)).map_err(|e| e.to_string())?;
        scripts.insert(model, p);
    }

    // In every test: reference, ours..., memory for PARALLEL, then the same
    // for the default model (memory is one server, measured in both turns).
    let mut schedule = Vec::new();
    for model in Model::ALL {
        schedule.extend(python_specs(&plugins, &scripts, model));
        schedule.push(memory_spec());
    }
    let mut machine = machine_info();
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    eprintln!(
        "bench: {} round(s), {:?} per measurement after {:?} warm-up, {} servers, {} tests{}",
        o.rounds,
        o.runtime,
        o.ramp,
        schedule.len() - 1,
        TESTS.len(),
        if o.callgrind { ", then callgrind" } else { "" }
    );

    let mut samples = Samples::new();
    let mut errors = Vec::new();
    for r in 0..o.rounds {
        if let Err(e) = round(&o, &work.0, &schedule, r, &mut samples, &mut errors) {
            eprintln!("bench: round {} FAILED: {e}", r + 1);
            errors.push(format!("round {}: {e}", r + 1));
        }
    }
    let cg = if o.callgrind {
        match callgrind(&o, &work.0, &outdir.join("callgrind"), &plugins, &scripts) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("bench: callgrind FAILED: {e}");
                errors.push(format!("callgrind: {e}"));
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };

    let mut kinds = vec![Kind::Reference, Kind::Cpython];
    if plugins.rustpython.is_some() {
        kinds.push(Kind::Rustpython);
    }
    let rows = rows(&samples, &kinds);
    let targets = targets(&rows, plugins.rustpython.is_some());
    machine.push(("loadavg_end", loadavg()));
    let info = |k: &str| {
        machine
            .iter()
            .find(|(n, _)| *n == k)
            .map_or("", |(_, v)| v.as_str())
    };
    let mut header = format!(
        "cargo xtask bench{}: {} round(s) x {:.1} s (+{:.1} s warm-up), medians; {} ({} cpus), {}\n  \
         load average (1/5/15 min) at start: {}, at end: {}",
        if o.quick { " --quick" } else { "" },
        o.rounds,
        o.runtime.as_secs_f64(),
        o.ramp.as_secs_f64(),
        info("cpu"),
        info("nproc"),
        info("nbdkit"),
        info("loadavg_start"),
        info("loadavg_end"),
    );
    for (k, p) in &plugins.origin {
        let _ = write!(header, "\n  {:<10} {}", k.name(), p.display());
    }
    let text = table(&header, &rows, &targets, &cg);
    println!("{text}");
    let js = to_json(&o, unix, &machine, &plugins, &rows, &targets, &cg, &errors);
    let file = outdir.join(format!("bench-{unix}.json"));
    for f in [&file, &outdir.join("latest.json")] {
        fs::write(f, &js).map_err(|e| format!("{}: {e}", f.display()))?;
    }
    let _ = fs::write(outdir.join("latest.txt"), &text);
    println!("wrote {} and latest.json", file.display());
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} measurement(s) failed:\n{}",
            errors.len(),
            errors.join("\n")
        )
        .into())
    }
}
