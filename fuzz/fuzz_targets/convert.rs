//! libFuzzer target: `cargo fuzz run convert --features libfuzzer -s none`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    nbdkit_python_plugin_fuzz::check(data);
});
