//! `cargo xtask run`: serve a script with our plugin until Ctrl-C.

use crate::build::{self, Backend};
use crate::deps;
use crate::util::{self, Args, Result};
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

const DEFAULT_PORT: &str = "10809";

pub fn main(args: &[String]) -> Result<ExitCode> {
    let mut args = Args::new(args);
    let backend = match args.value("--backend")? {
        Some(name) => Backend::parse(&name)?,
        None => Backend::Cpython,
    };
    let port = args
        .optional_value("--port", |v| v.chars().all(|c| c.is_ascii_digit()))
        .map(|p| p.unwrap_or_else(|| DEFAULT_PORT.to_string()));
    let (mut positional, after) = args.finish()?;
    positional.extend(after);
    let script = match positional.first() {
        Some(s) => PathBuf::from(s),
        None => default_script()?,
    };
    let script = std::fs::canonicalize(&script)
        .map_err(|e| format!("script {}: {e}", script.display()))?;
    let params = positional.iter().skip(1);

    deps::ensure()?;
    let plugin = build::build(&[backend])?.remove(0);

    let rundir = util::target_dir().join("run");
    std::fs::create_dir_all(&rundir)?;
    let pidfile = rundir.join("nbdkit.pid");
    let _ = std::fs::remove_file(&pidfile);
    let mut cmd = Command::new("nbdkit");
    cmd.args(["-f", "-v", "--exit-with-parent", "-P"]).arg(&pidfile);
    let (uri, sock) = match &port {
        Some(p) => {
            cmd.args(["-i", "127.0.0.1", "-p", p]);
            let uri = if p == DEFAULT_PORT {
                "nbd://localhost".to_string()
            } else {
                format!("nbd://localhost:{p}")
            };
            (uri, None)
        }
        None => {
            let sock = rundir.join("nbdkit.sock");
            let _ = std::fs::remove_file(&sock);
            cmd.arg("-U").arg(&sock);
            (format!("nbd+unix:///?socket={}", sock.display()), Some(sock))
        }
    };
    cmd.arg(&plugin).arg(&script).args(params);
    eprintln!("$ {}", util::describe(&cmd));
    let mut child = cmd.spawn().map_err(|e| format!("cannot start nbdkit: {e}"))?;

    // nbdkit writes the pid file once it is listening.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&pidfile).is_ok_and(|s| s.ends_with('\n')) {
        if let Some(st) = child.try_wait()? {
            return Err(format!("nbdkit exited during start-up ({st})").into());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err("nbdkit did not start listening within 60 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "\nxtask: serving {} with {} ({backend}).\n\
         xtask: connect with, for example:\n\
         \x20   nbdinfo '{uri}'\n\
         \x20   nbdsh -u '{uri}' -c 'print(h.get_size())'\n\
         \x20   qemu-img info '{uri}'\n\
         xtask: Ctrl-C stops it.\n",
        script.display(),
        plugin.display(),
    );
    let st = child.wait()?;
    if let Some(sock) = sock {
        let _ = std::fs::remove_file(sock);
    }
    Ok(if st.success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// examples/ramdisk.py, the bundled example.
fn default_script() -> Result<PathBuf> {
    let path = util::root().join("examples").join("ramdisk.py");
    if !path.exists() {
        return Err(format!("{} is missing: it is part of the repository", path.display()).into());
    }
    Ok(path)
}
