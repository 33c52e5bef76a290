//! Processes, paths and arguments shared by the tasks.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

pub type Result<T = ()> = std::result::Result<T, Box<dyn Error>>;

/// File name of the plugin, Debian's and ours alike.
pub const PLUGIN_FILE: &str = "nbdkit-python-plugin.so";

/// A line only our plugin prints in `nbdkit PLUGIN --dump-plugin`.
pub const OURS_MARKER: &str = "python_implementation=";

/// The workspace root (xtask's parent).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ has a parent")
        .to_path_buf()
}

/// Cargo's target directory.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// A `cargo` command in the workspace root, building the CPython backend
/// against Debian's interpreter unless PYO3_PYTHON says otherwise.
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root());
    if std::env::var_os("PYO3_PYTHON").is_none() {
        cmd.env("PYO3_PYTHON", "/usr/bin/python3");
    }
    cmd
}

/// PATH with Debian's directories first: the `python3` first on a
/// developer's PATH may be a pyenv one without libnbd's `nbd` module.
pub fn debian_path() -> String {
    let rest = std::env::var("PATH").unwrap_or_default();
    format!("/usr/bin:/bin:/usr/sbin:/sbin:{rest}")
}

/// `program arg...` for messages.
pub fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `cmd`, echoing it first; returns its exit status.
pub fn status(cmd: &mut Command) -> Result<ExitStatus> {
    eprintln!("$ {}", describe(cmd));
    cmd.status()
        .map_err(|e| format!("cannot run {}: {e}", describe(cmd)).into())
}

/// Runs `cmd`, echoing it first; fails unless it exits 0.
pub fn run(cmd: &mut Command) -> Result {
    let st = status(cmd)?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({st})", describe(cmd)).into())
    }
}

/// Runs `cmd` quietly and returns its stdout; fails unless it exits 0.
pub fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {}: {e}", describe(cmd)))?;
    if !out.status.success() {
        return Err(format!(
            "`{}` failed ({}): {}",
            describe(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// nbdkit's plugin directory, from `nbdkit --dump-config`.
pub fn plugindir() -> Result<PathBuf> {
    let config = output(Command::new("nbdkit").arg("--dump-config"))?;
    config
        .lines()
        .find_map(|l| l.strip_prefix("plugindir="))
        .map(PathBuf::from)
        .ok_or_else(|| "no plugindir= in `nbdkit --dump-config`".into())
}

/// Is the plugin at `path` ours (its --dump-plugin has our marker line)?
pub fn is_ours(path: &Path) -> Result<bool> {
    let dump = output(Command::new("nbdkit").arg(path).arg("--dump-plugin"))?;
    Ok(dump.lines().any(|l| l.starts_with(OURS_MARKER)))
}

extern "C" {
    fn geteuid() -> u32;
}

pub fn is_root() -> bool {
    // SAFETY: geteuid(2) takes no arguments, cannot fail and touches no
    // memory of ours.
    unsafe { geteuid() == 0 }
}

/// Copies `from` to `to` through a temporary file and a rename, so a
/// process that has the old file mapped (a running nbdkit) keeps it intact.
pub fn replace_file(from: &Path, to: &Path) -> Result {
    let dir = to.parent().ok_or("destination has no directory")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        to.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    std::fs::copy(from, &tmp)
        .map_err(|e| format!("copy {} to {}: {e}", from.display(), tmp.display()))?;
    std::fs::rename(&tmp, to).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("rename {} to {}: {e}", tmp.display(), to.display()).into()
    })
}

/// Command-line options of one task: `--name`, `--name VALUE` or
/// `--name=VALUE`, then positional arguments; `--` ends the options.
pub struct Args {
    items: Vec<String>,
}

impl Args {
    pub fn new(args: &[String]) -> Args {
        Args { items: args.to_vec() }
    }

    /// Removes `--name` and reports whether it was there.
    pub fn flag(&mut self, name: &str) -> bool {
        match self.position(name) {
            Some(i) => {
                self.items.remove(i);
                true
            }
            None => false,
        }
    }

    /// Removes `--name VALUE` / `--name=VALUE` and returns VALUE.
    pub fn value(&mut self, name: &str) -> Result<Option<String>> {
        let eq = format!("{name}=");
        if let Some(i) = self.find(|a| a.starts_with(&eq)) {
            return Ok(Some(self.items.remove(i)[eq.len()..].to_string()));
        }
        match self.position(name) {
            Some(i) if i + 1 < self.items.len() && self.items[i + 1] != "--" => {
                self.items.remove(i);
                Ok(Some(self.items.remove(i)))
            }
            Some(_) => Err(format!("{name} needs a value").into()),
            None => Ok(None),
        }
    }

    /// Removes `--name` with an optional value that must satisfy `is_value`
    /// (`--port`, `--port 10810`); `Some(None)` if given without one.
    pub fn optional_value(
        &mut self,
        name: &str,
        is_value: impl Fn(&str) -> bool,
    ) -> Option<Option<String>> {
        let eq = format!("{name}=");
        if let Some(i) = self.find(|a| a.starts_with(&eq)) {
            return Some(Some(self.items.remove(i)[eq.len()..].to_string()));
        }
        let i = self.position(name)?;
        self.items.remove(i);
        if i < self.items.len() && is_value(&self.items[i]) {
            Some(Some(self.items.remove(i)))
        } else {
            Some(None)
        }
    }

    /// What is left: positional arguments, and everything after `--`
    /// (returned separately).  Fails on an unknown option.
    pub fn finish(self) -> Result<(Vec<String>, Vec<String>)> {
        let mut positional = Vec::new();
        let mut it = self.items.into_iter();
        for a in it.by_ref() {
            if a == "--" {
                break;
            }
            if a.starts_with('-') && a.len() > 1 && positional.is_empty() {
                return Err(format!("unknown option {a:?}; `cargo xtask help` lists them").into());
            }
            positional.push(a);
        }
        Ok((positional, it.collect()))
    }

    /// Index of the first option (before `--`) satisfying `pred`.
    fn find(&self, pred: impl Fn(&str) -> bool) -> Option<usize> {
        self.items.iter().take_while(|a| *a != "--").position(|a| pred(a))
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.find(|a| a == name)
    }
}
