//! Harness for the conformance suite.
//!
//! Every scenario in `tests/*.rs` writes a Python plugin script, serves it
//! with the real `nbdkit`, drives it with a real client and checks what the
//! client and the nbdkit log show.  It does so once per [`Variant`]: nbdkit's
//! own Python plugin (the reference, which *is* the specification) and each
//! of our builds.
//!
//! Variants come from the environment (see `tests/README.md`):
//! - the reference is Debian's `nbdkit-python-plugin.so`: the `.debian` copy
//!   that `cargo xtask install` keeps, else the file in nbdkit's plugindir;
//! - ours are the colon-separated paths in `NBDKIT_PYTHON_PLUGINS`, or, when
//!   that is unset, whichever of `target/plugin/{cpython,rustpython}/` exist;
//! - `CONFORMANCE_REFERENCE_ONLY=1` runs the reference alone.
//!
//! Having none of ours and no `CONFORMANCE_REFERENCE_ONLY=1` is a failure,
//! never a silent pass.

use std::fmt;
use std::fs;
use std::os::unix::fs::FileTypeExt as _;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// File name of the plugin, Debian's and ours alike.
pub const PLUGIN_FILE: &str = "nbdkit-python-plugin.so";

/// The line that only our plugin prints in `--dump-plugin`.
pub const OURS_MARKER: &str = "python_implementation=";

/// How long nbdkit may take to start listening on a slow, busy machine.
const START_TIMEOUT: Duration = Duration::from_secs(90);
/// How long any one client or one-shot nbdkit run may take.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(180);

/// Python put in front of every plugin script (unless [`Nbdkit::raw`]).
///
/// `record(*words)` appends one line to the file named by the environment
/// variable `CONFORMANCE_RECORD`, which [`Dir::record`] reads back.  It uses
/// `builtins.open` because plugin scripts define their own `open`, and
/// UTF-8 because an embedded interpreter under the C locale (as in CI's
/// clean environment) would otherwise write ASCII only.
pub const PRELUDE: &str = "\
import builtins, errno, os, sys, time
import nbdkit
def record(*words):
    with builtins.open(os.environ['CONFORMANCE_RECORD'], 'a', encoding='utf-8') as f:
        f.write(' '.join(str(w) for w in words) + '\\n')
";

/// An API v2 read-only disk: 1 MiB `DISK`, one `dict` handle per connection.
pub const V2_DISK: &str = "
API_VERSION = 2
DISK = bytearray(1024 * 1024)
def open(readonly):
    return {}
def get_size(h):
    return len(DISK)
def pread(h, buf, offset, flags):
    buf[:] = DISK[offset:offset + len(buf)]
";

/// `pwrite` for [`V2_DISK`].
pub const V2_PWRITE: &str = "
def pwrite(h, buf, offset, flags):
    DISK[offset:offset + len(buf)] = buf
";

/// Python put in front of every client script.
const CLIENT_PRELUDE: &str = r#"
import errno, json, os, subprocess, sys, time
import nbd
SOCK = os.environ["NBD_SOCK"]
URI = os.environ["NBD_URI"]

def connect(export="", meta=True, full_info=False):
    """A libnbd handle connected to the server under test."""
    h = nbd.NBD()
    if meta:
        h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
    if full_info:
        h.set_full_info(True)
    h.set_export_name(export)
    h.connect_unix(SOCK)
    return h

def eq(got, want, what):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))

def fails_with(errname, fn, *args, **kwargs):
    """Call fn; it must raise nbd.Error whose errno name is errname."""
    try:
        fn(*args, **kwargs)
    except nbd.Error as e:
        eq(e.errno, errname, "errno from %s (%s)" % (fn.__name__, e))
        return e
    raise AssertionError("%s%r succeeded, expected %s" % (fn.__name__, args, errname))

def status(h, count, offset, flags=0):
    """base:allocation extents of a range as [(length, flags), ...]."""
    got = []
    def cb(metacontext, off, entries, err):
        eq(metacontext, nbd.CONTEXT_BASE_ALLOCATION, "context")
        got.extend(zip(entries[0::2], entries[1::2]))
        return 0
    h.block_status(count, offset, cb, flags)
    return got

def caps(h):
    """The export's flags as one line, for comparing with a table."""
    names = ["is_read_only", "can_flush", "can_fua", "can_trim", "can_zero",
             "can_fast_zero", "can_cache", "is_rotational", "can_multi_conn"]
    return " ".join("%s=%d" % (n, getattr(h, n)()) for n in names)
"#;

/// PATH for every child: Debian's tools first.  The `python3` that comes
/// first on a developer's PATH may be a pyenv one without libnbd's `nbd`.
fn child_path() -> String {
    let rest = std::env::var("PATH").unwrap_or_default();
    format!("/usr/bin:/bin:/usr/sbin:/sbin:{rest}")
}

/// A `Command` for an external tool, with Debian's PATH and no stdin.
pub fn tool(program: &str) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("PATH", child_path()).stdin(Stdio::null());
    cmd
}

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Removes the common leading indentation of the non-blank lines, so
/// scripts can be written indented inside Rust code: start such a string
/// with a newline, as in `"\n    def f():\n        pass\n"`.
pub fn dedent(text: &str) -> String {
    let indent = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        out.push_str(line.get(indent..).unwrap_or("").trim_end());
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------------------
// Variants

/// One plugin under test.
#[derive(Clone, Debug)]
pub struct Variant {
    name: String,
    plugin: PathBuf,
    reference: bool,
}

impl Variant {
    /// Is this nbdkit's own plugin (the specification)?
    pub fn is_reference(&self) -> bool {
        self.reference
    }

    /// Short name for messages: `reference`, `ours:cpython`, ...
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Absolute path of the plugin `.so`, as given to nbdkit.
    pub fn plugin(&self) -> &Path {
        &self.plugin
    }

    /// `nbdkit PLUGIN --dump-plugin` without a script.
    pub fn dump_plugin(&self) -> String {
        dump_plugin(&self.plugin)
    }

    /// One of ours that [`variants`] does not list: a test-only build such
    /// as the inject-panic one (`reliability.rs`). `label` names it in
    /// messages as `ours:LABEL`.
    pub fn extra(label: &str, plugin: PathBuf) -> Variant {
        Variant { name: format!("ours:{label}"), plugin, reference: false }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

fn dump_plugin(plugin: &Path) -> String {
    let out = tool("nbdkit")
        .arg(plugin)
        .arg("--dump-plugin")
        .output()
        .unwrap_or_else(|e| panic!("cannot run nbdkit (is it installed?): {e}"));
    assert!(
        out.status.success(),
        "nbdkit {} --dump-plugin failed: {}",
        plugin.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// nbdkit's plugin directory, from `nbdkit --dump-config`.
pub fn plugindir() -> PathBuf {
    let out = tool("nbdkit")
        .arg("--dump-config")
        .output()
        .unwrap_or_else(|e| panic!("cannot run nbdkit (is it installed?): {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("plugindir="))
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("no plugindir= in `nbdkit --dump-config`:\n{text}"))
}

/// Debian's own plugin: the copy `cargo xtask install` keeps, else the
/// installed file.  Fails loudly if that file turns out to be ours.
fn reference_variant() -> Result<Variant, String> {
    let installed = plugindir().join(PLUGIN_FILE);
    let kept = installed.with_file_name(format!("{PLUGIN_FILE}.debian"));
    let plugin = if kept.exists() { kept } else { installed };
    if !plugin.exists() {
        return Err(format!(
            "reference plugin {} not found: install Debian's nbdkit-plugin-python \
             (`cargo xtask test` does)",
            plugin.display()
        ));
    }
    if dump_plugin(&plugin).lines().any(|l| l.starts_with(OURS_MARKER)) {
        return Err(format!(
            "the reference plugin {} is OUR plugin (its --dump-plugin prints {OURS_MARKER}), \
             not Debian's: run `cargo xtask install --restore`, or \
             `apt-get install --reinstall nbdkit-plugin-python`",
            plugin.display()
        ));
    }
    Ok(Variant { name: "reference".into(), plugin, reference: true })
}

fn our_variants() -> Vec<Variant> {
    let paths: Vec<PathBuf> = match std::env::var_os("NBDKIT_PYTHON_PLUGINS") {
        Some(list) => std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect(),
        None => {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace_root().join("target"));
            ["cpython", "rustpython"]
                .iter()
                .map(|b| target.join("plugin").join(b).join(PLUGIN_FILE))
                .filter(|p| p.exists())
                .collect()
        }
    };
    paths
        .into_iter()
        .map(|p| {
            let plugin = fs::canonicalize(&p).unwrap_or_else(|e| {
                panic!("NBDKIT_PYTHON_PLUGINS names {}: {e}", p.display())
            });
            let label = plugin
                .parent()
                .and_then(|d| d.file_name())
                .map(|d| d.to_string_lossy().into_owned())
                .unwrap_or_else(|| plugin.display().to_string());
            Variant { name: format!("ours:{label}"), plugin, reference: false }
        })
        .collect()
}

fn load_variants() -> Result<Vec<Variant>, String> {
    let mut all = vec![reference_variant()?];
    if std::env::var("CONFORMANCE_REFERENCE_ONLY").as_deref() == Ok("1") {
        return Ok(all);
    }
    let ours = our_variants();
    if ours.is_empty() {
        return Err("none of our plugins was found: run `cargo xtask build` \
                    (or set NBDKIT_PYTHON_PLUGINS=path[:path], or \
                    CONFORMANCE_REFERENCE_ONLY=1 to check the reference alone)"
            .into());
    }
    all.extend(ours);
    Ok(all)
}

/// Every variant under test, the reference first.
pub fn variants() -> &'static [Variant] {
    static VARIANTS: OnceLock<Result<Vec<Variant>, String>> = OnceLock::new();
    match VARIANTS.get_or_init(load_variants) {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}

/// Is the suite running for long (soak) tests?  Set by `cargo xtask test --soak`.
pub fn soak() -> bool {
    std::env::var("CONFORMANCE_SOAK").as_deref() == Ok("1")
}

/// Runs `scenario` once per variant.  A failure in one variant does not stop
/// the others; at the end the test fails naming every variant that failed.
pub fn for_each_variant(scenario: impl Fn(&Variant)) {
    run_variants(variants().iter(), &scenario);
}

/// Like [`for_each_variant`], for a scenario where we deliberately differ
/// from nbdkit's plugin: the reference is skipped.  `why` says how we differ
/// and why; it is printed with the test output.
pub fn for_each_variant_differing_from_reference(why: &str, scenario: impl Fn(&Variant)) {
    println!("deliberate difference, reference skipped: {why}");
    run_variants(variants().iter().filter(|v| !v.is_reference()), &scenario);
}

fn run_variants<'a>(vs: impl Iterator<Item = &'a Variant>, scenario: &dyn Fn(&Variant)) {
    let mut failed = Vec::new();
    for v in vs {
        println!("=== variant {v} ({})", v.plugin.display());
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| scenario(v))) {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "(non-string panic)".into());
            failed.push(format!("--- variant {v} ({}) FAILED:\n{msg}", v.plugin.display()));
        }
    }
    if !failed.is_empty() {
        panic!("{} variant(s) failed:\n{}", failed.len(), failed.join("\n"));
    }
}

// ---------------------------------------------------------------------------
// Temporary directories

/// A fresh directory for one scenario run; removed on drop unless the
/// thread is panicking (then kept, and its path printed, for inspection).
pub struct Dir {
    path: PathBuf,
}

impl Dir {
    pub fn new() -> Dir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let label: String = thread::current()
            .name()
            .unwrap_or("scenario")
            .rsplit("::")
            .next()
            .unwrap_or("scenario")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(40)
            .collect();
        let path = std::env::temp_dir()
            .join(format!("conformance-{}-{n}-{label}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        Dir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Writes `contents` to `name` in this directory; returns the path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.join(name);
        fs::write(&p, contents).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        p
    }

    /// Contents of `name` (invalid UTF-8 replaced), or "" if it does not exist.
    pub fn read(&self, name: &str) -> String {
        read_lossy(&self.join(name))
    }

    /// Lines the script wrote with `record(...)`.
    pub fn record(&self) -> Vec<String> {
        self.read("record.txt").lines().map(str::to_owned).collect()
    }

    /// Waits (up to a minute) until the record satisfies `done`, for calls
    /// nbdkit makes after the client has gone (close); returns the record.
    pub fn wait_for_record(&self, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let rec = self.record();
            if done(&rec) {
                return rec;
            }
            assert!(Instant::now() < deadline, "record never complete: {rec:?}");
            thread::sleep(Duration::from_millis(50));
        }
    }

}

/// Contents of a file, invalid UTF-8 replaced (tools may print raw bytes:
/// nbdinfo does when `file` is not installed), or "" if it cannot be read.
pub fn read_lossy(path: &Path) -> String {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// A file name in `dir` that no other call returns.
fn unique_in(dir: &Path, stem: &str, ext: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!("{stem}-{n}.{ext}"))
}

impl Default for Dir {
    fn default() -> Self {
        Dir::new()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("kept {} for inspection", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

// ---------------------------------------------------------------------------
// Running processes

/// What a finished process left behind.
#[derive(Debug)]
pub struct Run {
    pub what: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Panics (with all output) unless the process exited 0.
    pub fn ok(self) -> Run {
        assert!(self.success(), "{} failed: {self}", self.what);
        self
    }

    /// Panics (with all output) if the process exited 0.
    pub fn failed(self) -> Run {
        assert!(!self.success(), "{} unexpectedly succeeded: {self}", self.what);
        self
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\n--- status: {}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.what,
            self.status,
            tail(&self.stdout, 60),
            tail(&self.stderr, 60)
        )
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// `program arg...` of a command, shell-quoted where needed, without the
/// environment (which `Debug` of a `Command` prints in full).
pub fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| {
            let a = a.to_string_lossy();
            if !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_=./:,+@%".contains(c)) {
                a.into_owned()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `cmd` to completion (killing it after `timeout`), stdout and stderr
/// going to files in `dir` so nothing blocks on a full pipe.
pub fn run_in(dir: &Path, cmd: &mut Command, timeout: Duration) -> Run {
    let what = describe(cmd);
    let out_path = unique_in(dir, "stdout", "txt");
    let err_path = unique_in(dir, "stderr", "txt");
    let out = fs::File::create(&out_path).expect("create stdout file");
    let err = fs::File::create(&err_path).expect("create stderr file");
    let mut child = cmd
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let status = wait_timeout(&mut child, timeout);
    let stdout = read_lossy(&out_path);
    let stderr = read_lossy(&err_path);
    match status {
        Some(status) => Run { what, status, stdout, stderr },
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what} still running after {timeout:?}, killed\n--- stdout:\n{}\n--- stderr:\n{}",
                tail(&stdout, 60),
                tail(&stderr, 60)
            );
        }
    }
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

const SIGTERM: i32 = 15;

fn send_sigterm(child: &Child) {
    let pid = i32::try_from(child.id()).expect("pid fits in i32");
    // SAFETY: kill(2) has no memory-safety preconditions; `pid` is our own
    // child, which we have not reaped yet, so the pid cannot be reused.
    unsafe {
        kill(pid, SIGTERM);
    }
}

// ---------------------------------------------------------------------------
// nbdkit

/// How the script is named on nbdkit's command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptForm {
    /// `nbdkit PLUGIN script.py` (the plugin's magic config key).
    Bare,
    /// `nbdkit PLUGIN script=script.py`.
    Key,
    /// `nbdkit PLUGIN script.py` with the name relative to nbdkit's
    /// working directory (the scenario directory).
    Relative,
}

/// An nbdkit command line being put together for one variant.
pub struct Nbdkit<'a> {
    variant: &'a Variant,
    dir: &'a Dir,
    script: String,
    raw: bool,
    script_name: String,
    form: ScriptForm,
    options: Vec<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl<'a> Nbdkit<'a> {
    /// `parts` of the script are each dedented, joined, and put after
    /// [`PRELUDE`].
    pub fn new(variant: &'a Variant, dir: &'a Dir, parts: &[&str]) -> Nbdkit<'a> {
        Nbdkit {
            variant,
            dir,
            script: parts.iter().map(|p| dedent(p)).collect(),
            raw: false,
            script_name: "plugin.py".into(),
            form: ScriptForm::Bare,
            options: Vec::new(),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Write the script exactly as given, without [`PRELUDE`].
    pub fn raw(mut self) -> Self {
        self.raw = true;
        self
    }

    /// The script's file name inside the scenario directory.
    pub fn script_name(mut self, name: &str) -> Self {
        self.script_name = name.into();
        self
    }

    pub fn form(mut self, form: ScriptForm) -> Self {
        self.form = form;
        self
    }

    /// An nbdkit option, placed before the plugin (`-r`, `--filter=...`).
    pub fn opt(mut self, opt: &str) -> Self {
        self.options.push(opt.into());
        self
    }

    /// A `key=value` parameter, placed after the script.
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Writes the script; returns its path.
    pub fn write_script(&self) -> PathBuf {
        let text = if self.raw {
            self.script.clone()
        } else {
            format!("{PRELUDE}{}", self.script)
        };
        self.dir.write(&self.script_name, text)
    }

    /// `PLUGIN SCRIPT ARGS...` as nbdkit takes them after its options.
    pub fn plugin_args(&self, script: &Path) -> Vec<String> {
        let name = script.display().to_string();
        let mut v = vec![self.variant.plugin.display().to_string()];
        v.push(match self.form {
            ScriptForm::Bare => name,
            ScriptForm::Key => format!("script={name}"),
            ScriptForm::Relative => self.script_name.clone(),
        });
        v.extend(self.args.iter().cloned());
        v
    }

    fn command(&self, leading: &[&str], script: &Path) -> Command {
        let mut cmd = tool("nbdkit");
        cmd.args(leading)
            .args(&self.options)
            .args(self.plugin_args(script))
            .env("CONFORMANCE_RECORD", self.dir.join("record.txt"))
            .current_dir(self.dir.path());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs nbdkit to completion (for scripts that must fail at start, and
    /// `--dump-plugin`).  nbdkit gets `-f -v -U SOCK --exit-with-parent`
    /// so a script that unexpectedly works listens on nothing shared; it is
    /// killed, failing the test, if still running after `timeout`.
    pub fn run(&self, timeout: Duration) -> Run {
        let script = self.write_script();
        let sock = self.dir.join("run.sock").display().to_string();
        let mut cmd =
            self.command(&["-f", "-v", "-U", &sock, "--exit-with-parent"], &script);
        let mut run = run_in(self.dir.path(), &mut cmd, timeout);
        run.what = format!("[{}] {}", self.variant, run.what);
        run
    }

    /// `nbdkit PLUGIN SCRIPT --dump-plugin`.
    pub fn dump_plugin(&self) -> Run {
        let script = self.write_script();
        let mut cmd = self.command(&[], &script);
        cmd.arg("--dump-plugin");
        let mut run = run_in(self.dir.path(), &mut cmd, RUN_TIMEOUT);
        run.what = format!("[{}] {}", self.variant, run.what);
        run
    }

    /// Starts `nbdkit -f -v -U SOCK -P PIDFILE --exit-with-parent ...` and
    /// waits until it is ready to accept connections (it writes the pid
    /// file after it starts listening).
    pub fn start(&self) -> Server {
        let script = self.write_script();
        let sock = self.dir.join("nbdkit.sock");
        let pidfile = self.dir.join("nbdkit.pid");
        let log = self.dir.join("nbdkit.log");
        let _ = fs::remove_file(&sock);
        let _ = fs::remove_file(&pidfile);
        let sock_s = sock.display().to_string();
        let pid_s = pidfile.display().to_string();
        let mut cmd = self.command(
            &["-f", "-v", "-U", &sock_s, "-P", &pid_s, "--exit-with-parent"],
            &script,
        );
        let what = format!("[{}] {}", self.variant, describe(&cmd));
        let logf = fs::File::create(&log).expect("create nbdkit.log");
        let child = cmd
            .stdout(logf.try_clone().expect("dup log"))
            .stderr(logf)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start nbdkit (is it installed?): {e}"));
        let mut server = Server {
            child,
            exited: None,
            variant: self.variant.clone(),
            what,
            sock,
            log,
            dir: self.dir.path().to_path_buf(),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let ready = fs::read_to_string(&pidfile).is_ok_and(|s| s.ends_with('\n'))
                && fs::metadata(&server.sock).is_ok_and(|m| m.file_type().is_socket());
            if ready {
                return server;
            }
            if let Some(status) = server.child.try_wait().expect("try_wait") {
                server.exited = Some(status);
                server.fail(&format!("nbdkit exited during start-up with {status}"));
            }
            if Instant::now() >= deadline {
                server.fail(&format!("nbdkit not listening after {START_TIMEOUT:?}"));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A running `nbdkit -f` serving one script on a Unix socket.  Killed on drop.
pub struct Server {
    child: Child,
    exited: Option<ExitStatus>,
    variant: Variant,
    what: String,
    pub sock: PathBuf,
    log: PathBuf,
    dir: PathBuf,
}

impl Server {
    /// `nbd+unix:///?socket=SOCK` (default export).
    pub fn uri(&self) -> String {
        format!("nbd+unix:///?socket={}", self.sock.display())
    }

    /// `nbd+unix:///EXPORT?socket=SOCK`; `export` must be URI-safe.
    pub fn uri_export(&self, export: &str) -> String {
        format!("nbd+unix:///{export}?socket={}", self.sock.display())
    }

    /// Everything nbdkit wrote so far (stdout and stderr, with `-v`).
    pub fn log(&self) -> String {
        read_lossy(&self.log)
    }

    /// Panics with `msg`, the variant, the command line and the log's tail.
    pub fn fail(&self, msg: &str) -> ! {
        panic!(
            "[{}] {msg}\n--- nbdkit: {}\n--- nbdkit log (tail):\n{}",
            self.variant,
            self.what,
            tail(&self.log(), 60)
        );
    }

    /// Asserts that the nbdkit log contains `needle`.
    pub fn assert_log_contains(&self, needle: &str) {
        if !self.log().contains(needle) {
            self.fail(&format!("nbdkit log lacks {needle:?}"));
        }
    }

    /// Runs a Python client (libnbd's `nbd` module, Debian's python3) and
    /// returns its stdout; fails the test if the client fails.  The code
    /// runs after a prelude defining `connect()`, `eq()`, `fails_with()`,
    /// `status()` (extents), `caps()`, `SOCK` and `URI`.
    pub fn py(&self, code: &str) -> String {
        let run = self.py_run(code);
        if !run.success() {
            self.fail(&format!("client failed: {run}"));
        }
        run.stdout
    }

    /// Like [`Server::py`], returning the finished run whatever its status.
    pub fn py_run(&self, code: &str) -> Run {
        let script = unique_in(&self.dir, "client", "py");
        fs::write(&script, format!("{}\n{}", CLIENT_PRELUDE, dedent(code))).expect("write client");
        let mut cmd = tool("/usr/bin/python3");
        cmd.arg(&script)
            .env("NBD_SOCK", &self.sock)
            .env("NBD_URI", self.uri())
            .current_dir(&self.dir);
        run_in(&self.dir, &mut cmd, RUN_TIMEOUT)
    }

    /// Runs an external tool (nbdinfo, nbdsh, qemu-img, nbdcopy) in the
    /// scenario directory; returns the finished run whatever its status.
    pub fn tool(&self, program: &str, args: &[&str]) -> Run {
        let mut cmd = tool(program);
        cmd.args(args).current_dir(&self.dir);
        run_in(&self.dir, &mut cmd, RUN_TIMEOUT)
    }

    /// Like [`Server::tool`], failing the test (with the nbdkit log) unless
    /// the tool succeeds; returns its stdout.
    pub fn tool_ok(&self, program: &str, args: &[&str]) -> String {
        let run = self.tool(program, args);
        if !run.success() {
            self.fail(&format!("{program} failed: {run}"));
        }
        run.stdout
    }

    /// Waits for nbdkit to exit by itself (e.g. after `nbdkit.shutdown()`).
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(s) = self.exited {
            return s;
        }
        match wait_timeout(&mut self.child, timeout) {
            Some(s) => {
                self.exited = Some(s);
                s
            }
            None => self.fail(&format!("nbdkit still running after {timeout:?}")),
        }
    }

    /// Asks nbdkit to exit (SIGTERM, as Ctrl-C would) and waits for it;
    /// returns its exit status and the whole log.
    pub fn stop(mut self) -> (ExitStatus, String) {
        if self.exited.is_none() {
            send_sigterm(&self.child);
        }
        let status = self.wait_exit(RUN_TIMEOUT);
        (status, self.log())
    }

    /// Has nbdkit exited?
    pub fn is_running(&mut self) -> bool {
        if self.exited.is_some() {
            return false;
        }
        match self.child.try_wait().expect("try_wait") {
            Some(s) => {
                self.exited = Some(s);
                false
            }
            None => true,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

