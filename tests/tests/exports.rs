//! Export names, list_exports, default_export and export_description.

use conformance::*;

/// Records the export name (as UTF-8 hex, so any name survives the record
/// file) seen by open and by pread.
const NAME_RECORDER: &str = "
API_VERSION = 2
def open(readonly):
    record('open', nbdkit.export_name().encode('utf-8').hex())
    return 1
def get_size(h):
    return 4096
def pread(h, buf, offset, flags):
    record('pread', nbdkit.export_name().encode('utf-8').hex())
    buf[:] = bytes(len(buf))
";

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn export_name_seen(name: &str) {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[NAME_RECORDER]).start();
        // Python's repr of a str is a valid Python literal.
        let lit = format!("bytes.fromhex('{}').decode('utf-8')", hex(name));
        srv.py(&format!(
            "
            h = connect({lit})
            eq(h.get_export_name(), {lit}, 'libnbd export name')
            h.pread(512, 0)
            "
        ));
        let h = hex(name);
        assert_eq!(
            dir.record(),
            [format!("open {h}"), format!("pread {h}")],
            "[{v}] export name {name:?} as the script saw it (hex)"
        );
    });
}

#[test]
fn export_name_empty() {
    export_name_seen("");
}

#[test]
fn export_name_ascii() {
    export_name_seen("disk-1");
}

#[test]
fn export_name_non_ascii_utf8() {
    export_name_seen("café/日本語/🚀");
}

#[test]
fn export_name_300_bytes() {
    let name: String = "0123456789".repeat(30);
    assert_eq!(name.len(), 300);
    export_name_seen(&name);
}

#[test]
fn export_name_300_bytes_non_ascii() {
    let name: String = "é".repeat(150);
    assert_eq!(name.len(), 300);
    export_name_seen(&name);
}

const LISTING: &str = "
API_VERSION = 2
def list_exports(readonly, is_tls):
    record('list_exports', readonly, is_tls)
    return ['plain', ('described', 'the description'), (b'bytes', b'bytes desc'), 'café']
def default_export(readonly, is_tls):
    record('default_export', readonly, is_tls)
    return 'described'
def open(readonly):
    return nbdkit.export_name()
def get_size(h):
    return {'plain': 512, 'described': 1024}.get(h, 2048)
def pread(h, buf, offset, flags):
    buf[:] = bytes(len(buf))
def export_description(h):
    return 'description of ' + h
";

#[test]
fn list_exports_names_and_tuples() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[LISTING]).start();
        srv.py(
            "
            h = nbd.NBD()
            h.set_opt_mode(True)
            h.connect_unix(SOCK)
            got = []
            h.opt_list(lambda name, desc: got.append((name, desc)))
            eq(got, [('plain', ''), ('described', 'the description'),
                     ('bytes', 'bytes desc'), ('café', '')], 'listed exports')
            h.opt_abort()
            ",
        );
        assert_eq!(dir.record(), ["list_exports False False"], "[{v}] list_exports args");
    });
}

#[test]
fn list_exports_seen_by_nbdinfo() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[LISTING]).start();
        let json = srv.tool_ok("nbdinfo", &["--no-content", "--list", "--json", &srv.uri()]);
        let names: Vec<&str> = json
            .lines()
            .filter_map(|l| l.trim().strip_prefix("\"export-name\": "))
            .collect();
        assert_eq!(
            names,
            ["\"plain\",", "\"described\",", "\"bytes\",", "\"café\","],
            "[{v}] nbdinfo --list --json export names:\n{json}"
        );
        for want in [
            "\"description\": \"the description\"",
            "\"description\": \"bytes desc\"",
            "\"export-size\": 512",
            "\"export-size\": 1024",
            "\"uri\": \"nbd+unix:///caf%C3%A9?socket=",
        ] {
            assert!(json.contains(want), "[{v}] nbdinfo --list --json lacks {want}:\n{json}");
        }
    });
}

#[test]
fn list_exports_readonly_flag() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[LISTING]).opt("-r").start();
        srv.tool_ok("nbdinfo", &["--no-content", "--list", &srv.uri()]);
        let rec = dir.record();
        assert_eq!(rec.first().map(String::as_str), Some("list_exports True False"), "[{v}] {rec:?}");
    });
}

#[test]
fn default_export_maps_the_empty_name() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[LISTING]).start();
        srv.py(
            "
            h = connect('', full_info=True)
            eq(h.get_size(), 1024, 'size of the default export')
            eq(h.get_canonical_export_name(), 'described', 'canonical name')
            eq(h.get_export_description(), 'description of described', 'description')
            ",
        );
        assert!(
            dir.record().contains(&"default_export False False".to_string()),
            "[{v}] default_export not called: {:?}",
            dir.record()
        );
    });
}

#[test]
fn default_export_seen_by_nbdinfo() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[LISTING]).start();
        let json = srv.tool_ok("nbdinfo", &["--no-content", "--json", &srv.uri()]);
        for want in [
            "\"export-name\": \"described\"",
            "\"description\": \"description of described\"",
            "\"export-size\": 1024",
        ] {
            assert!(json.contains(want), "[{v}] nbdinfo --json lacks {want}:\n{json}");
        }
    });
}

#[test]
fn without_list_exports_the_default_export_is_listed() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(
            v,
            &dir,
            &[V2_DISK, "
            def default_export(readonly, is_tls):
                return 'the-default'
            "],
        )
        .start();
        srv.py(
            "
            h = nbd.NBD()
            h.set_opt_mode(True)
            h.connect_unix(SOCK)
            got = []
            h.opt_list(lambda name, desc: got.append((name, desc)))
            eq(got, [('the-default', '')], 'listed exports')
            h.opt_abort()
            ",
        );
    });
}

#[test]
fn without_list_exports_or_default_export_one_empty_name_is_listed() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[V2_DISK]).start();
        let json = srv.tool_ok("nbdinfo", &["--no-content", "--list", "--json", &srv.uri()]);
        let names: Vec<&str> = json
            .lines()
            .filter(|l| l.contains("\"export-name\""))
            .collect();
        assert_eq!(names.len(), 1, "[{v}] one export:\n{json}");
        assert!(names[0].contains("\"export-name\": \"\""), "[{v}] empty name:\n{json}");
    });
}

#[test]
fn list_exports_returning_a_non_iterable_fails_the_listing() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(
            v,
            &dir,
            &[V2_DISK, "
            def list_exports(readonly, is_tls):
                return 42
            "],
        )
        .start();
        srv.py(
            "
            h = nbd.NBD()
            h.set_opt_mode(True)
            h.connect_unix(SOCK)
            try:
                h.opt_list(lambda name, desc: 0)
            except nbd.Error as e:
                print('listing failed:', e)
            else:
                raise AssertionError('listing succeeded')
            # nbdkit serializes handshakes with the default thread model:
            # end this one before starting another.
            h.opt_abort()
            eq(connect().pread(512, 0), bytes(512), 'a plain connection still works')
            ",
        );
        srv.assert_log_contains("error");
    });
}

#[test]
fn export_description_per_export() {
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[LISTING]).start();
        srv.py(
            "
            for name in ['plain', 'bytes', 'café']:
                h = connect(name, full_info=True)
                eq(h.get_export_description(), 'description of ' + name, name)
            ",
        );
    });
}
