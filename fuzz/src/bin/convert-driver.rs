//! Deterministic fuzz driver: `ITERATIONS` (default 1,000,000) pseudo-random
//! inputs from a fixed seed through [`check`], on the stable toolchain and
//! without libFuzzer. What `cargo xtask test` runs.
//!
//! ```text
//! convert-driver [ITERATIONS [SEED]]     run
//! convert-driver --replay HEX            run one input (as printed on failure)
//! ```
//!
//! On a failure it prints the iteration and the input in hex, and exits 1.

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::time::Instant;

use nbdkit_python_plugin_fuzz::{check, SplitMix64};

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--replay") {
        let Some(data) = args.get(1).and_then(|h| unhex(h)) else {
            eprintln!("usage: convert-driver --replay HEX");
            return ExitCode::from(2);
        };
        check(&data);
        println!("convert-driver: input passed");
        return ExitCode::SUCCESS;
    }
    let iterations: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let seed: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(0x6e62_646b_6974);

    // Report a failing input once, not the default panic message per case.
    panic::set_hook(Box::new(|info| eprintln!("convert-driver: {info}")));
    let start = Instant::now();
    let mut rng = SplitMix64(seed);
    let mut buf = Vec::new();
    // Per conversion: (inputs, successes), so a run shows that both the
    // accepting and the refusing paths were exercised.
    let mut tally: BTreeMap<&'static str, (u64, u64)> = BTreeMap::new();
    for i in 0..iterations {
        rng.input(&mut buf);
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| check(&buf)));
        if let Ok((which, ok)) = outcome {
            let t = tally.entry(which.name()).or_default();
            t.0 += 1;
            t.1 += u64::from(ok);
        } else {
            eprintln!(
                "convert-driver: FAILED at iteration {i} (seed {seed}); replay with:\n  \
                 cargo run --release --manifest-path fuzz/Cargo.toml --bin convert-driver -- --replay {}",
                hex(&buf)
            );
            return ExitCode::FAILURE;
        }
    }
    println!(
        "convert-driver: {iterations} inputs (seed {seed}) passed in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    for (name, (n, ok)) in &tally {
        println!("  {name:<10} {n:>8} inputs, {ok:>8} accepted, {:>8} refused", n - ok);
    }
    ExitCode::SUCCESS
}
