//! `cargo xtask`: the project's tasks, std only so it compiles in seconds.
//!
//! Code map: `build` (compile and lay out plugin variants), `install`
//! (swap ours in for Debian's plugin and back), `run` (serve an example),
//! `test` (unit tests + conformance suite), `deps` (Debian packages the
//! tasks need), `bench` (benchmarks), `util` (processes and paths).

mod bench;
mod build;
mod deps;
mod install;
mod run;
mod test;
mod util;

use std::process::ExitCode;

const HELP: &str = "\
cargo xtask <command> [options]

Commands:
  build    [--backend cpython|rustpython]
           Build the plugin (every available backend by default) and copy
           it to target/plugin/<backend>/nbdkit-python-plugin.so.
  run      [--backend B] [--port [N]] [SCRIPT [key=value...]]
           Install missing Debian packages, build, then serve SCRIPT
           (default examples/ramdisk.py) with `nbdkit -f -v` on a Unix
           socket, or on TCP localhost (port 10809 unless N) with --port,
           until Ctrl-C.
  test     [--backend B] [--soak] [-- <conformance test args>]
           Install missing Debian packages, build every backend (or B),
           run the unit tests, then the conformance suite against nbdkit's
           own Python plugin and ours. --soak adds the long tests.
  install  [--backend B] | --restore
           Put our plugin in nbdkit's plugin directory in place of
           Debian's (kept as nbdkit-python-plugin.so.debian), so that
           `nbdkit python` uses ours; --restore puts Debian's back.
  bench    [options]
           Benchmarks: our plugin against nbdkit's; options and output
           are described at the top of xtask/src/bench.rs.
  help     This text.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = match args.split_first() {
        Some((cmd, rest)) => (cmd.as_str(), rest),
        None => ("help", &[][..]),
    };
    let result = match cmd {
        "help" | "-h" | "--help" => {
            print!("{HELP}");
            Ok(ExitCode::SUCCESS)
        }
        "build" => build::main(rest).map(|_| ExitCode::SUCCESS),
        "run" => run::main(rest),
        "test" => test::main(rest),
        "install" => install::main(rest).map(|_| ExitCode::SUCCESS),
        "bench" => Ok(bench::main(rest)),
        other => Err(format!("unknown command {other:?}; `cargo xtask help` lists them").into()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}
