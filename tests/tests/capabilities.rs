//! What a client sees of the export's flags: every `can_*`/`is_*` callback,
//! and the default nbdkit's plugin applies when the script leaves it out.

use conformance::*;

const ALL_FLAGS: [&str; 9] = [
    "is_read_only",
    "can_flush",
    "can_fua",
    "can_trim",
    "can_zero",
    "can_fast_zero",
    "can_cache",
    "is_rotational",
    "can_multi_conn",
];

/// Serves the script made of `parts` and checks that libnbd reports exactly
/// the flags in `set` as true and every other flag of [`ALL_FLAGS`] false.
fn flags_are(parts: &[&str], set: &[&str]) {
    flags_per_variant(parts, |_| set);
}

/// The flags a client sees for each variant: `set(variant)` lists those
/// that must be on.
fn flags_per_variant<'a>(parts: &[&str], set: impl Fn(&Variant) -> &'a [&'a str]) {
    for_each_variant(|v| {
        let set = set(v);
        for name in set {
            assert!(ALL_FLAGS.contains(name), "unknown flag {name}");
        }
        let want: Vec<String> = ALL_FLAGS
            .iter()
            .map(|f| format!("{f}={}", u8::from(set.contains(f))))
            .collect();
        let want = want.join(" ");
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, parts).start();
        let got = srv.py("print(caps(connect()))");
        assert_eq!(got.trim(), want, "[{v}] flags for script:\n{}", parts.concat());
    });
}

const FLUSH: &str = "
def flush(h, flags):
    pass
";
const TRIM: &str = "
def trim(h, count, offset, flags):
    pass
";
const ZERO: &str = "
def zero(h, count, offset, flags):
    DISK[offset:offset + count] = bytearray(count)
";
const CACHE: &str = "
def cache(h, count, offset, flags):
    pass
";

#[test]
fn minimal_script_is_read_only_and_offers_nothing() {
    flags_are(&[V2_DISK], &["is_read_only"]);
}

#[test]
fn pwrite_makes_export_writable() {
    // No zero callback: nbdkit emulates zero with pwrite (can_zero), and the
    // plugin's can_fast_zero default is "not can_zero", so a fast zero fails
    // fast (can_fast_zero).
    flags_are(&[V2_DISK, V2_PWRITE], &["can_zero", "can_fast_zero"]);
}

#[test]
fn flush_gives_can_flush_and_emulated_fua() {
    flags_are(
        &[V2_DISK, V2_PWRITE, FLUSH],
        &["can_flush", "can_fua", "can_zero", "can_fast_zero"],
    );
}

#[test]
fn flush_on_read_only_export() {
    // FUA only applies to writes, so a read-only export never advertises it.
    flags_are(&[V2_DISK, FLUSH], &["is_read_only", "can_flush"]);
}

#[test]
fn trim_gives_can_trim() {
    flags_are(&[V2_DISK, V2_PWRITE, TRIM], &["can_trim", "can_zero", "can_fast_zero"]);
}

#[test]
fn zero_gives_can_zero_but_not_fast_zero() {
    flags_are(&[V2_DISK, V2_PWRITE, ZERO], &["can_zero"]);
}

#[test]
fn cache_gives_can_cache() {
    // A cache callback alone means CACHE_NATIVE.
    flags_are(&[V2_DISK, CACHE], &["is_read_only", "can_cache"]);
}

#[test]
fn can_write_false_overrides_pwrite() {
    flags_are(
        &[V2_DISK, V2_PWRITE, "def can_write(h):\n    return False\n"],
        &["is_read_only"],
    );
}

#[test]
fn can_write_true_without_pwrite_is_writable() {
    flags_are(
        &[V2_DISK, "def can_write(h):\n    return True\n"],
        &["can_zero", "can_fast_zero"],
    );
}

#[test]
fn can_flush_false_overrides_flush_but_fua_stays_emulated() {
    // Quirk of the reference: the can_fua default looks at whether a flush
    // callback *exists* (FUA_EMULATE), not at what can_flush returned.
    flags_are(
        &[V2_DISK, V2_PWRITE, FLUSH, "def can_flush(h):\n    return False\n"],
        &["can_fua", "can_zero", "can_fast_zero"],
    );
}

#[test]
fn can_flush_true_without_flush() {
    flags_are(
        &[V2_DISK, V2_PWRITE, "def can_flush(h):\n    return True\n"],
        &["can_flush", "can_zero", "can_fast_zero"],
    );
}

#[test]
fn can_trim_false_overrides_trim() {
    flags_are(
        &[V2_DISK, V2_PWRITE, TRIM, "def can_trim(h):\n    return False\n"],
        &["can_zero", "can_fast_zero"],
    );
}

#[test]
fn can_zero_false_leaves_zero_emulated_and_fast_zero_advertised() {
    // can_zero False only stops nbdkit calling the script's zero: it still
    // emulates NBD_CMD_WRITE_ZEROES with pwrite.  can_fast_zero defaults to
    // "not can_zero", so fast zero is advertised (and fails fast).
    flags_are(
        &[V2_DISK, V2_PWRITE, ZERO, "def can_zero(h):\n    return False\n"],
        &["can_zero", "can_fast_zero"],
    );
}

#[test]
fn can_fast_zero_true_with_zero() {
    flags_are(
        &[V2_DISK, V2_PWRITE, ZERO, "def can_fast_zero(h):\n    return True\n"],
        &["can_zero", "can_fast_zero"],
    );
}

#[test]
fn can_fast_zero_false_without_zero() {
    flags_are(
        &[V2_DISK, V2_PWRITE, "def can_fast_zero(h):\n    return False\n"],
        &["can_zero"],
    );
}

#[test]
fn can_fua_none_with_flush() {
    flags_are(
        &[V2_DISK, V2_PWRITE, FLUSH, "def can_fua(h):\n    return nbdkit.FUA_NONE\n"],
        &["can_flush", "can_zero", "can_fast_zero"],
    );
}

#[test]
fn can_fua_native_without_flush() {
    flags_are(
        &[V2_DISK, V2_PWRITE, "def can_fua(h):\n    return nbdkit.FUA_NATIVE\n"],
        &["can_fua", "can_zero", "can_fast_zero"],
    );
}

#[test]
fn can_fua_is_read_as_an_integer() {
    // can_fua returns an int, not a boolean: True is 1, i.e. FUA_EMULATE.
    flags_are(
        &[V2_DISK, V2_PWRITE, "def can_fua(h):\n    return True\n"],
        &["can_fua", "can_zero", "can_fast_zero"],
    );
}

#[test]
fn can_cache_none_with_cache() {
    flags_are(
        &[V2_DISK, CACHE, "def can_cache(h):\n    return nbdkit.CACHE_NONE\n"],
        &["is_read_only"],
    );
}

#[test]
fn can_cache_emulate_without_cache() {
    flags_are(
        &[V2_DISK, "def can_cache(h):\n    return nbdkit.CACHE_EMULATE\n"],
        &["is_read_only", "can_cache"],
    );
}

#[test]
fn is_rotational_true() {
    flags_are(
        &[V2_DISK, "def is_rotational(h):\n    return True\n"],
        &["is_read_only", "is_rotational"],
    );
}

#[test]
fn can_multi_conn_true() {
    flags_are(
        &[V2_DISK, "def can_multi_conn(h):\n    return True\n"],
        &["is_read_only", "can_multi_conn"],
    );
}

#[test]
fn boolean_callbacks_count_only_true() {
    // Quirk of the reference: a boolean callback counts as true only if it
    // returns the object True (`r == Py_True`); 1, "yes" and other truthy
    // values count as false.  So `return 1` from can_write gives a
    // read-only export.
    //
    // Deliberate difference: ours follows Python's truth rules (and logs a
    // debug line where the reference would read the value differently).
    println!("deliberate difference: ours reads can_* results with Python truth, the reference only True");
    flags_per_variant(
        &[
            V2_DISK,
            V2_PWRITE,
            FLUSH,
            TRIM,
            "
            def can_write(h):
                return 1
            def can_flush(h):
                return 'yes'
            def is_rotational(h):
                return 1
            def can_multi_conn(h):
                return [1]
            ",
        ],
        |v| if v.is_reference() { &["is_read_only"] } else { &["can_flush", "can_fua", "can_trim", "can_multi_conn", "is_rotational", "can_zero", "can_fast_zero"] },
    );
}

#[test]
fn truthy_non_bool_from_can_trim_and_can_zero_is_false() {
    // Same quirk as above, on a writable export; ours reads Python truth.
    println!("deliberate difference: ours reads can_* results with Python truth, the reference only True");
    flags_per_variant(
        &[
            V2_DISK,
            V2_PWRITE,
            TRIM,
            ZERO,
            "
            def can_trim(h):
                return 1
            def can_zero(h):
                return 1
            def can_fast_zero(h):
                return 1
            ",
        ],
        // zero stays emulated by nbdkit whatever can_zero says.
        |v| if v.is_reference() { &["can_zero"] } else { &["can_trim", "can_zero", "can_fast_zero"] },
    );
}

#[test]
fn non_callable_attribute_counts_as_missing() {
    // A module attribute named like a callback that is not callable is
    // ignored (the reference logs "object can_write isn't callable").
    flags_are(&[V2_DISK, V2_PWRITE, "can_write = False\n"], &["can_zero", "can_fast_zero"]);
}

#[test]
fn base_allocation_is_always_offered() {
    // nbdkit synthesizes extents when the script has none, so the
    // base:allocation context is negotiated either way.
    for extra in ["", "def can_extents(h):\n    return False\n"] {
        for_each_variant(|v| {
            let dir = Dir::new();
            let srv = Nbdkit::new(v, &dir, &[V2_DISK, extra]).start();
            let got = srv.py("print(connect().can_meta_context(nbd.CONTEXT_BASE_ALLOCATION))");
            assert_eq!(got.trim(), "True", "[{v}] base:allocation with {extra:?}");
        });
    }
}

#[test]
fn block_size_reaches_the_client() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(
            v,
            &dir,
            &[V2_DISK, "def block_size(h):\n    return (512, 4096, 1024 * 1024)\n"],
        )
        .start();
        let got = srv.py(
            "
            h = connect()
            print([h.get_block_size(s) for s in
                   (nbd.SIZE_MINIMUM, nbd.SIZE_PREFERRED, nbd.SIZE_MAXIMUM)])",
        );
        assert_eq!(got.trim(), "[512, 4096, 1048576]", "[{v}] block sizes");
    });
}

#[test]
fn block_size_default_is_not_advertised() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[V2_DISK]).start();
        let got = srv.py(
            "
            h = connect()
            print([h.get_block_size(s) for s in
                   (nbd.SIZE_MINIMUM, nbd.SIZE_PREFERRED, nbd.SIZE_MAXIMUM)])",
        );
        assert_eq!(got.trim(), "[0, 0, 0]", "[{v}] block sizes");
    });
}

#[test]
fn export_description_reaches_the_client() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(
            v,
            &dir,
            &[V2_DISK, "def export_description(h):\n    return 'a fine disk'\n"],
        )
        .start();
        let got = srv.py("print(connect(full_info=True).get_export_description())");
        assert_eq!(got.trim(), "a fine disk", "[{v}] export description");
    });
}

#[test]
fn get_size_reaches_the_client() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(
            v,
            &dir,
            &[V2_DISK, "def get_size(h):\n    return 7 * 1024 * 1024 * 1024 * 1024 + 512\n"],
        )
        .start();
        let got = srv.py("print(connect().get_size())");
        assert_eq!(got.trim(), (7u64 << 40 | 512).to_string(), "[{v}] size");
    });
}

#[test]
fn nbdinfo_json_shows_all_flags() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(
            v,
            &dir,
            &[
                V2_DISK,
                V2_PWRITE,
                FLUSH,
                TRIM,
                ZERO,
                CACHE,
                "
                def is_rotational(h):
                    return True
                def can_multi_conn(h):
                    return True
                def can_fast_zero(h):
                    return True
                def export_description(h):
                    return 'described'
                def block_size(h):
                    return (1, 65536, 33554432)
                ",
            ],
        )
        .start();
        let json = srv.tool_ok("nbdinfo", &["--no-content", "--json", &srv.uri()]);
        for want in [
            "\"is_rotational\": true",
            "\"is_read_only\": false",
            "\"can_cache\": true",
            "\"can_fast_zero\": true",
            "\"can_flush\": true",
            "\"can_fua\": true",
            "\"can_multi_conn\": true",
            "\"can_trim\": true",
            "\"can_zero\": true",
            "\"export-size\": 1048576",
            "\"description\": \"described\"",
            "\"block_size_minimum\": 1",
            "\"block_size_preferred\": 65536",
            "\"block_size_maximum\": 33554432",
            "\"base:allocation\"",
        ] {
            assert!(json.contains(want), "[{v}] nbdinfo --json lacks {want}:\n{json}");
        }
    });
}

#[test]
fn nbdinfo_json_minimal_script() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[V2_DISK]).start();
        let json = srv.tool_ok("nbdinfo", &["--no-content", "--json", &srv.uri()]);
        for want in [
            "\"is_rotational\": false",
            "\"is_read_only\": true",
            "\"can_cache\": false",
            "\"can_fast_zero\": false",
            "\"can_flush\": false",
            "\"can_fua\": false",
            "\"can_multi_conn\": false",
            "\"can_trim\": false",
            "\"can_zero\": false",
            "\"export-size\": 1048576",
        ] {
            assert!(json.contains(want), "[{v}] nbdinfo --json lacks {want}:\n{json}");
        }
        assert!(!json.contains("\"description\""), "[{v}] unexpected description:\n{json}");
        assert!(!json.contains("block_size_minimum"), "[{v}] unexpected block size:\n{json}");
    });
}
