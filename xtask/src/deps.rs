//! The Debian packages `run` and `test` need, installed when missing.
//!
//! A fresh Debian 12 machine has only build-essential, git, ca-certificates
//! and the Rust toolchain; everything else comes from here.

use crate::util::{self, Result};
use std::process::Command;

/// nbdkit and its Python plugin (the reference), the headers our plugin
/// builds against, libnbd's clients, and the tools the tests and benchmarks
/// drive it with.
pub const PACKAGES: &[&str] = &[
    "nbdkit",
    "nbdkit-plugin-python",
    "nbdkit-plugin-dev",
    "libnbd-bin",
    "python3-libnbd",
    "python3-dev",
    "fio",
    "qemu-utils",
    "strace",
    "valgrind",
    "libffi-dev",
    "pkg-config",
    // Type-checks the examples against python/nbdkit.pyi (tests/tests/examples.rs).
    "mypy",
];

/// Packages of `PACKAGES` not installed, per dpkg.
fn missing() -> Result<Vec<&'static str>> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f", "${Package} ${db:Status-Status}\\n"])
        .args(PACKAGES)
        .output()
        .map_err(|e| format!("cannot run dpkg-query (is this Debian?): {e}"))?;
    // dpkg-query exits 1 when some package is unknown: read stdout anyway.
    Ok(not_installed(&String::from_utf8_lossy(&out.stdout)))
}

/// Packages of `PACKAGES` that `dpkg-query -W -f '${Package} ${db:Status-Status}\n'`
/// output does not show as installed (unknown ones, or only config files left).
fn not_installed(dpkg_output: &str) -> Vec<&'static str> {
    let installed: Vec<&str> = dpkg_output
        .lines()
        .filter_map(|l| l.strip_suffix(" installed"))
        .collect();
    PACKAGES.iter().copied().filter(|p| !installed.contains(p)).collect()
}

/// Installs whatever of [`PACKAGES`] is missing: apt-get as root, else
/// through sudo.
pub fn ensure() -> Result {
    let missing = missing()?;
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: missing Debian packages: {}", missing.join(" "));
    let apt = |args: &[&str]| -> Command {
        let mut cmd = if util::is_root() {
            Command::new("apt-get")
        } else {
            let mut c = Command::new("sudo");
            c.args(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
            c
        };
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    if !util::is_root() && Command::new("sudo").arg("-V").output().is_err() {
        return Err(format!(
            "not root and no sudo: install them yourself: apt-get install {}",
            missing.join(" ")
        )
        .into());
    }
    util::run(&mut apt(&["update"]))?;
    let mut install = apt(&["install", "-y", "--no-install-recommends"]);
    install.args(&missing);
    util::run(&mut install)?;
    let still = self::missing()?;
    if !still.is_empty() {
        return Err(format!("still missing after apt-get install: {}", still.join(" ")).into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{not_installed, PACKAGES};

    #[test]
    fn reads_dpkg_query_output() {
        let all: String = PACKAGES.iter().map(|p| format!("{p} installed\n")).collect();
        assert!(not_installed(&all).is_empty());
        let some = all
            .replace("fio installed", "fio config-files")
            .replace("strace installed\n", "");
        assert_eq!(not_installed(&some), ["fio", "strace"]);
    }
}
