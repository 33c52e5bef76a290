//! `cargo xtask test`: everything CI runs.
//!
//! 1. install missing Debian packages;
//! 2. build every available backend (`cargo xtask build`), or only the one
//!    named by `--backend`;
//! 3. unit tests: `cargo test --workspace --exclude conformance`, then the
//!    deterministic fuzz driver of plugin-python's result conversions
//!    (`fuzz/`, a workspace of its own; 1,000,000 inputs, 10,000,000 with
//!    `--soak`);
//! 4. the conformance suite, `cargo test -p conformance`, against nbdkit's
//!    own Python plugin and every plugin built in step 2
//!    (`NBDKIT_PYTHON_PLUGINS`).
//!
//! Steps 3 and 4 both run even if 3 fails; any failure fails the task.

use crate::build;
use crate::deps;
use crate::util::{self, Args, Result};
use std::process::ExitCode;

pub fn main(args: &[String]) -> Result<ExitCode> {
    let mut args = Args::new(args);
    let soak = args.flag("--soak");
    let backends = build::backends_from(&mut args)?;
    let (rest, test_args) = args.finish()?;
    if !rest.is_empty() {
        return Err(format!(
            "unexpected arguments {rest:?} (test filters go after `--`)"
        )
        .into());
    }

    deps::ensure()?;
    let plugins = build::build(&backends)?;

    let mut failed = Vec::new();
    // --release: the unit tests then reuse the interpreter crates that the
    // plugin build above compiled (RustPython takes minutes to build), and
    // RustPython's recursion fits the test threads' stacks; the extra stack
    // is for a debug run by hand.
    let unit = util::status(
        util::cargo()
            .args(["test", "--release", "--workspace", "--exclude", "conformance", "--no-fail-fast"])
            .env("RUST_MIN_STACK", (16 << 20).to_string()),
    )?;
    if !unit.success() {
        failed.push("unit tests");
    }
    let inputs = if soak { "10000000" } else { "1000000" };
    let fuzz = util::status(util::cargo().args([
        "run",
        "--release",
        "--manifest-path",
        "fuzz/Cargo.toml",
        "--bin",
        "convert-driver",
        "--",
        inputs,
    ]))?;
    if !fuzz.success() {
        failed.push("fuzz driver");
    }

    let list = std::env::join_paths(&plugins)?;
    let mut conformance = util::cargo();
    conformance
        .args(["test", "-p", "conformance", "--no-fail-fast", "--"])
        .args(&test_args)
        .env("NBDKIT_PYTHON_PLUGINS", &list)
        .env_remove("CONFORMANCE_REFERENCE_ONLY");
    if soak {
        conformance.env("CONFORMANCE_SOAK", "1");
    }
    eprintln!("xtask: NBDKIT_PYTHON_PLUGINS={}", list.to_string_lossy());
    if !util::status(&mut conformance)?.success() {
        failed.push("conformance suite");
    }

    if failed.is_empty() {
        eprintln!("xtask: all tests passed");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("xtask: FAILED: {}", failed.join(", "));
        Ok(ExitCode::FAILURE)
    }
}
