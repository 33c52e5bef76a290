//! The long parts of `reliability.rs`, run only with `cargo xtask test
//! --soak` (CONFORMANCE_SOAK=1): full-size data integrity, a million
//! requests, ten thousand connections, a longer valgrind run.

mod reliability_common;

use conformance::*;
use reliability_common::*;

fn skip() -> bool {
    if !soak() {
        println!("skipped: long test, set CONFORMANCE_SOAK=1 (cargo xtask test --soak)");
    }
    !soak()
}

/// RSS may grow this much over a million requests or ten thousand
/// connections (allocator noise, caches warming).
const RSS_BOUND_KIB: i64 = 8 * 1024;

#[test]
fn soak_integrity_fio_256_mib_three_passes() {
    if skip() {
        return;
    }
    for_each_variant(|v| integrity_fio(v, 256 * MIB, 3));
}

#[test]
fn soak_integrity_qemu_img_and_nbdcopy_256_mib() {
    if skip() {
        return;
    }
    for_each_variant(|v| integrity_copy(v, 256 * MIB));
}

#[test]
fn soak_resources_flat_over_a_million_requests() {
    if skip() {
        return;
    }
    for_each_variant(|v| {
        resources_over_requests(v, 50_000, 1_000_000, RSS_BOUND_KIB);
    });
}

#[test]
fn soak_resources_flat_over_ten_thousand_connections() {
    if skip() {
        return;
    }
    for_each_variant(|v| {
        resources_over_connections(v, 200, 10_000, RSS_BOUND_KIB);
    });
}

#[test]
fn soak_valgrind_memcheck_longer_run() {
    if skip() {
        return;
    }
    for_each_variant_differing_from_reference("valgrind checks our code only", |v| {
        if implementation(v) == Imp::CPython {
            valgrind_memcheck(v, 10);
        }
    });
}
