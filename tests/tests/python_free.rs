//! The RustPython build needs no Python installation: `ldd` shows no
//! libpython, and nbdkit serving a script with it opens no file of one.
//!
//! Only variants whose `--dump-plugin` says `python_implementation=RustPython`
//! are checked; the others are expected to use libpython, and a run with no
//! RustPython build says so and passes (the RustPython build is part of
//! `cargo xtask test`, which then always checks it).

use conformance::*;
use std::process::Command;

fn rustpython_variants() -> Vec<&'static Variant> {
    let found: Vec<_> = variants()
        .iter()
        .filter(|v| !v.is_reference() && v.dump_plugin().lines().any(|l| l == "python_implementation=RustPython"))
        .collect();
    if found.is_empty() {
        println!("no RustPython build among the variants: nothing to check");
    }
    found
}

/// Paths that belong to a Python installation.
fn is_python_file(path: &str) -> bool {
    path.contains("libpython")
        || path.contains("/lib/python3")
        || path.contains("site-packages")
        || path.contains("dist-packages")
        || path.ends_with(".pyc")
        || (path.ends_with(".py") && !path.ends_with("/plugin.py"))
}

#[test]
fn rustpython_links_no_libpython() {
    for v in rustpython_variants() {
        let out = Command::new("ldd").arg(v.plugin()).output().expect("run ldd");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "[{v}] ldd failed: {text}");
        assert!(!text.contains("libpython"), "[{v}] links libpython:\n{text}");
    }
}

#[test]
fn rustpython_serving_opens_no_python_file() {
    for v in rustpython_variants() {
        let dir = Dir::new();
        let script = dir.write(
            "plugin.py",
            dedent(
                "
                import errno, os, sys, threading, time, traceback, logging
                import nbdkit
                API_VERSION = 2
                DISK = bytearray(1024 * 1024)
                def thread_model():
                    return nbdkit.THREAD_MODEL_PARALLEL
                def open(readonly):
                    return {}
                def get_size(h):
                    return len(DISK)
                def pread(h, buf, offset, flags):
                    buf[:] = DISK[offset:offset + len(buf)]
                ",
            ),
        );
        let trace = dir.join("trace.txt");
        // nbdinfo is C: the traced --run client opens no Python file itself.
        let mut cmd = Command::new("strace");
        cmd.args(["-f", "-qq", "-e", "trace=open,openat", "-o"])
            .arg(&trace)
            .args(["nbdkit", "-U", "-"])
            .arg(v.plugin())
            .arg(&script)
            .args(["--run", "nbdinfo --size \"$uri\""]);
        let run = run_in(dir.path(), &mut cmd, RUN_TIMEOUT).ok();
        assert_eq!(run.stdout.trim(), "1048576", "[{v}] {run}");
        let trace = read_lossy(&trace);
        let opened: Vec<&str> = trace
            .lines()
            .filter(|l| !l.contains("ENOENT"))
            .filter_map(|l| l.split('"').nth(1))
            .filter(|p| is_python_file(p))
            .collect();
        assert!(opened.is_empty(), "[{v}] opened files of a Python installation: {opened:#?}");
        // The trace really saw the plugin load and the script run.
        assert!(trace.contains("plugin.py"), "[{v}] the trace does not show the script being opened");
    }
}
