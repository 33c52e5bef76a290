//! Loading the script: the command-line forms, --dump-plugin, and scripts
//! that cannot be served (nbdkit must exit non-zero and say why).

use conformance::*;
use std::time::Duration;

/// Runs `nbdkit -f -v -U SOCK --exit-with-parent ARGS...` to completion; a
/// server that starts after all is killed after a minute, failing the test.
fn nbdkit_raw(dir: &Dir, args: &[&std::ffi::OsStr]) -> Run {
    let mut cmd = tool("nbdkit");
    cmd.args(["-f", "-v", "--exit-with-parent", "-U"]).arg(dir.join("sock")).args(args);
    run_in(dir.path(), &mut cmd, Duration::from_secs(60))
}

const GOOD: &str = "
def config(key, value):
    record('config', key, value)
def open(readonly):
    return 1
def get_size(h):
    return 4096
def pread(h, count, offset):
    return b'g' * count
";

fn serves_with_form(form: ScriptForm) {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[GOOD]).form(form).arg("k=v").start();
        srv.py("eq(connect().pread(512, 0), b'g' * 512, 'data')");
        assert_eq!(dir.record(), ["config k v"], "[{v}] config with {form:?}");
    });
}

#[test]
fn script_as_bare_argument() {
    // nbdkit PLUGIN /path/script.py k=v: "script" is the magic config key.
    serves_with_form(ScriptForm::Bare);
}

#[test]
fn script_as_key_value() {
    // nbdkit PLUGIN script=/path/script.py k=v
    serves_with_form(ScriptForm::Key);
}

#[test]
fn script_relative_to_the_working_directory() {
    serves_with_form(ScriptForm::Relative);
}

#[test]
fn script_name_need_not_end_in_py() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[GOOD]).script_name("my-plugin").start();
        srv.py("eq(connect().pread(512, 0), b'g' * 512, 'data')");
    });
}

#[test]
fn dump_plugin_with_a_script() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let run = Nbdkit::new(
            v,
            &dir,
            &[GOOD, "
            def dump_plugin():
                print('my_script_key=my value')
                print('another_line=2')
            "],
        )
        .dump_plugin()
        .ok();
        // The script's lines come from Python's own stdout buffer, so their
        // position relative to nbdkit's lines is not fixed: check presence.
        let lines: Vec<&str> = run.stdout.lines().collect();
        for want in ["my_script_key=my value", "another_line=2", "name=python"] {
            assert!(lines.contains(&want), "[{v}] --dump-plugin lacks {want:?}: {run}");
        }
        for prefix in dump_plugin_prefixes(v, &run.stdout) {
            assert!(
                lines.iter().any(|l| l.starts_with(prefix)),
                "[{v}] --dump-plugin lacks {prefix}...: {run}"
            );
        }
    });
}

/// The lines `--dump-plugin` must start with, for variant `v` whose output
/// is `out`. Ours adds `python_implementation=` (a deliberate addition);
/// RustPython has no C ABI, so it prints no `python_pep_384_abi_version=`.
fn dump_plugin_prefixes(v: &Variant, out: &str) -> Vec<&'static str> {
    let mut want = vec!["name=python", "python_version=3.", "nbdkit_python_maximum_api_version=2"];
    if !v.is_reference() {
        want.push("python_implementation=");
    }
    if !out.lines().any(|l| l == "python_implementation=RustPython") {
        want.push("python_pep_384_abi_version=");
    }
    want
}

#[test]
fn dump_plugin_without_a_script() {
    for_each_variant(|v| {
        let out = v.dump_plugin();
        for prefix in dump_plugin_prefixes(v, &out) {
            assert!(
                out.lines().any(|l| l.starts_with(prefix)),
                "[{v}] --dump-plugin lacks {prefix}...:\n{out}"
            );
        }
    });
}

#[test]
fn dump_plugin_shows_has_lines() {
    for_each_variant(|v| {
        let out = v.dump_plugin();
        for cb in ["open", "get_size", "pread", "pwrite", "flush", "trim", "zero", "extents", "cache"] {
            let want = format!("has_{cb}=1");
            assert!(out.lines().any(|l| l == want), "[{v}] --dump-plugin lacks {want}:\n{out}");
        }
    });
}

/// nbdkit must refuse to start: exit non-zero, saying every `wants`.
fn refuses(v: &Variant, cmd: Nbdkit, wants: &[&str]) {
    let run = cmd.run(RUN_TIMEOUT).failed();
    let out = format!("{}{}", run.stdout, run.stderr);
    for want in wants {
        assert!(out.contains(want), "[{v}] nbdkit output lacks {want:?}: {run}");
    }
}

#[test]
fn missing_script_file() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let missing = dir.join("no-such-script.py").display().to_string();
        let run = nbdkit_raw(&dir, &[v.plugin().as_os_str(), missing.as_ref()]);
        let err = &run.stderr;
        assert!(!run.success(), "[{v}] nbdkit started without a script file");
        assert!(err.contains(&missing), "[{v}] message does not name the file:\n{err}");
        assert!(err.contains("No such file or directory"), "[{v}] message lacks the reason:\n{err}");
    });
}

#[test]
fn syntax_error() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let cmd = Nbdkit::new(v, &dir, &[GOOD, "def broken(:\n    pass\n"]);
        refuses(v, cmd, &["plugin.py", "SyntaxError"]);
    });
}

#[test]
fn exception_at_top_level() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let cmd = Nbdkit::new(v, &dir, &[GOOD, "raise RuntimeError('top level boom')\n"]);
        refuses(v, cmd, &["plugin.py", "RuntimeError: top level boom"]);
    });
}

#[test]
fn required_callback_missing() {
    for (name, script) in [
        ("pread", "def open(readonly):\n    return 1\ndef get_size(h):\n    return 1\n"),
        ("open", "def get_size(h):\n    return 1\ndef pread(h, c, o):\n    return bytes(c)\n"),
        ("get_size", "def open(readonly):\n    return 1\ndef pread(h, c, o):\n    return bytes(c)\n"),
    ] {
        for_each_variant(|v| {
            let dir = Dir::new();
            let cmd = Nbdkit::new(v, &dir, &[script]);
            refuses(v, cmd, &["plugin.py", name]);
        });
    }
}

#[test]
fn unknown_api_version() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let cmd = Nbdkit::new(v, &dir, &["API_VERSION = 3\n", GOOD]);
        refuses(v, cmd, &["plugin.py", "API_VERSION"]);
    });
}

#[test]
fn key_before_the_script() {
    // Reference: "the first parameter must be script=/path/to/python/script.py"
    for_each_variant(|v| {
        let dir = Dir::new();
        let script = dir.write("plugin.py", dedent(GOOD));
        let script = format!("script={}", script.display());
        let run = nbdkit_raw(&dir, &[v.plugin().as_os_str(), "k=v".as_ref(), script.as_ref()]);
        let err = &run.stderr;
        assert!(!run.success(), "[{v}] nbdkit started with a key before script=");
        assert!(err.contains("script"), "[{v}] message does not mention script:\n{err}");
    });
}

#[test]
fn no_script_at_all() {
    // The reference aborts here (an assertion in the plugin, exit 134); all
    // that is required is that nbdkit does not start.
    for_each_variant(|v| {
        let dir = Dir::new();
        let run = nbdkit_raw(&dir, &[v.plugin().as_os_str()]);
        assert!(!run.success(), "[{v}] nbdkit started without a script: {run}");
    });
}

#[test]
fn parameter_without_config_callback() {
    // Reference: "plugin.py: this plugin does not need command line configuration"
    for_each_variant(|v| {
        let dir = Dir::new();
        let cmd = Nbdkit::new(
            v,
            &dir,
            &["def open(r):\n    return 1\ndef get_size(h):\n    return 1\ndef pread(h, c, o):\n    return bytes(c)\n"],
        )
        .arg("unexpected=1");
        refuses(v, cmd, &["plugin.py", "configuration"]);
    });
}

#[test]
fn shebang_script_runs_directly() {
    // `#!/usr/sbin/nbdkit PLUGIN` makes the script itself the command; the
    // kernel runs `nbdkit PLUGIN ./script.py ARGS...`. PLUGIN is the path
    // of each variant's .so (an installed plugin would be `python`).
    use std::os::unix::fs::PermissionsExt;
    let nbdkit = ["/usr/sbin/nbdkit", "/usr/bin/nbdkit"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("nbdkit in /usr/sbin or /usr/bin");
    for_each_variant(|v| {
        let dir = Dir::new();
        let body = format!("#!{nbdkit} {}\n{}", v.plugin().display(), dedent(V2_DISK));
        let script = dir.write("disk.py", body);
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let mut cmd = std::process::Command::new(&script);
        cmd.args(["-U", "-", "--run", "nbdinfo --size \"$uri\""]);
        let run = run_in(dir.path(), &mut cmd, RUN_TIMEOUT).ok();
        assert_eq!(run.stdout.trim(), "1048576", "[{v}] {run}");
    });
}
