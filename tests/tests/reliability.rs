//! Reliability: what a misbehaving script, a panic, a signal or a long run
//! does to the server. The long parts are in `reliability_soak.rs`.
//!
//! The bad-input catalogue (`catalogue_*`) is table-driven: every [`Case`]
//! names the callback that misbehaves, how, what the client must see, the
//! text the log must show, and how nbdkit's own plugin behaves. For every
//! case the server must keep serving: a following request on the same
//! connection and a new connection both work. `docs/reliability.md` holds
//! the same table in prose.
//!
//! A case marked `bug` is one where our plugin falls short (see the
//! `// BUG:` comments): it is reported as a KNOWN BUG and does not fail
//! the test, and says so when it starts passing.

mod reliability_common;

use conformance::*;
use reliability_common::*;
use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

// ---------------------------------------------------------------------------
// 1. The bad-input catalogue: results of the wrong type or shape

/// What the client sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// The request fails with this errno; the same connection then serves
    /// a read, and a new connection works.
    Fails(&'static str),
    /// The connection is refused; a new connection works.
    Refused,
    /// The action returns this (Python `repr`); the same connection then
    /// serves a read, and a new connection works.
    Returns(&'static str),
}

/// How nbdkit's own plugin behaves in a case.
#[derive(Clone, Copy, Debug)]
enum Ref {
    /// As ours, and its log has this text ("" for none).
    Same(&'static str),
    /// The client sees something else: checked against that (and the log
    /// against the text). A deliberate difference; the note says what.
    Other(Outcome, &'static str, &'static str),
    /// Not run on the reference: it crashes, hangs or reaches freed memory.
    Skip(&'static str),
}

/// A known bug, on every implementation or only one.
#[derive(Clone, Copy, Debug)]
struct Bug {
    on: Option<Imp>,
    what: &'static str,
}

struct Case {
    /// The export name that asks the script to misbehave: `callback=kind`.
    id: &'static str,
    /// Python, with the connection as `h`.
    action: &'static str,
    ours: Outcome,
    /// Our log must have `plugin.py: CALLBACK: error:` and this text; if it
    /// starts with `~`, just the rest of the text (no error expected).
    what: &'static str,
    reference: Ref,
    bug: Option<Bug>,
    only: Option<Imp>,
}

fn case(id: &'static str, action: &'static str, ours: Outcome, what: &'static str, reference: Ref) -> Case {
    Case { id, action, ours, what, reference, bug: None, only: None }
}

impl Case {
    fn bug(mut self, on: Option<Imp>, what: &'static str) -> Self {
        self.bug = Some(Bug { on, what });
        self
    }

    fn only(mut self, imp: Imp) -> Self {
        self.only = Some(imp);
        self
    }

    fn callback(&self) -> &str {
        self.id.split('=').next().unwrap_or(self.id)
    }

    fn applies_to(&self, v: &Variant) -> bool {
        self.only.is_none_or(|imp| implementation(v) == imp)
            && !(v.is_reference() && matches!(self.reference, Ref::Skip(_)))
    }

    fn bug_for(&self, v: &Variant) -> Option<&'static str> {
        let b = self.bug?;
        (!v.is_reference() && b.on.is_none_or(|imp| imp == implementation(v))).then_some(b.what)
    }

    /// The outcome and log texts this variant must show.
    fn expected(&self, v: &Variant) -> (Outcome, Vec<String>) {
        if v.is_reference() {
            let (outcome, needle) = match self.reference {
                Ref::Same(n) => (self.ours, n),
                Ref::Other(o, n, _) => (o, n),
                Ref::Skip(_) => unreachable!("skipped cases are not run"),
            };
            let needles = if needle.is_empty() { vec![] } else { vec![needle.to_string()] };
            return (outcome, needles);
        }
        let needles = match self.what.strip_prefix('~') {
            Some(text) => vec![text.to_string()],
            None => vec![format!("plugin.py: {}: error:", self.callback()), self.what.to_string()],
        };
        (self.ours, needles.into_iter().filter(|n| !n.is_empty()).collect())
    }
}

/// Checks one case's client line and log section; returns what is wrong.
fn check_case(c: &Case, v: &Variant, fields: Option<&[String]>, section: Option<&str>) -> Vec<String> {
    let (want, needles) = c.expected(v);
    let mut problems = Vec::new();
    let Some(f) = fields else {
        return vec!["the client printed no line for this case (did the server die?)".into()];
    };
    let (connect, result, next, new) = (&f[1], &f[2], &f[3], &f[4]);
    match want {
        Outcome::Refused => {
            if connect == "ok" {
                problems.push(format!("connected, wanted a refusal (action gave {result})"));
            }
        }
        Outcome::Fails(errno) => {
            if *result != format!("fails {errno}") {
                problems.push(format!("connect {connect}, action gave {result:?}, wanted fails {errno}"));
            }
        }
        Outcome::Returns(r) => {
            if *result != format!("returns {r}") {
                problems.push(format!("connect {connect}, action gave {result:?}, wanted returns {r}"));
            }
        }
    }
    if want != Outcome::Refused && next != "ok" {
        problems.push(format!("the next request on the same connection failed: {next}"));
    }
    if new != "ok" {
        problems.push(format!("a new connection failed: {new}"));
    }
    match section {
        None => problems.push("no log section for this case".into()),
        Some(s) => {
            for n in needles {
                if !s.contains(&n) {
                    problems.push(format!("log lacks {n:?}"));
                }
            }
        }
    }
    problems
}

/// Client for a catalogue: for each case (`id`, `action` from the JSON file
/// named by argv[1]), a marker connection that makes the script log
/// `CASE-BEGIN id`, then the case; one tab-separated line per case:
/// id, connect, result, next, new.
const CATALOGUE_CLIENT: &str = r#"
import json
def short(v):
    if isinstance(v, (bytes, bytearray)):
        return repr(bytes(v[:4]))
    return repr(v)
def line(*fields):
    print("\t".join(str(f).replace("\t", " ").replace("\n", " ") for f in fields), flush=True)
for cid, action in json.load(open(sys.argv[1])):
    m = connect("mark=" + cid)
    m.shutdown()
    h = None
    connected, result, nxt = "ok", "-", "-"
    try:
        h = connect(cid, full_info=True)
    except nbd.Error as e:
        connected = "refused %s" % e.errno
    if h is not None:
        try:
            result = "returns " + short(eval(action))
        except nbd.Error as e:
            result = "fails %s" % e.errno
        try:
            h.pread(512, 512)
            nxt = "ok"
        except Exception as e:
            nxt = repr(e)
        try:
            h.shutdown()
        except Exception:
            pass
    try:
        connect().pread(512, 0)
        new = "ok"
    except Exception as e:
        new = repr(e)
    line(cid, connected, result, nxt, new)
"#;

/// Serves `script` and runs every case that applies to each variant.
fn run_catalogue(script: &[&str], cases: &[Case]) {
    print_catalogue(cases);
    for_each_variant(|v| {
        let cases: Vec<&Case> = cases.iter().filter(|c| c.applies_to(v)).collect();
        for c in cases.iter().filter(|_| v.is_reference()) {
            if let Ref::Other(_, _, why) = c.reference {
                println!("deliberate difference ({}): {why}", c.id);
            }
        }
        let dir = Dir::new();
        let mut srv = Nbdkit::new(v, &dir, script).start();
        let list: Vec<String> =
            cases.iter().map(|c| format!("[{}, {}]", json_str(c.id), json_str(c.action))).collect();
        dir.write("cases.json", format!("[{}]", list.join(",\n")));
        let out = srv.py(&format!("sys.argv = ['', {}]\n{CATALOGUE_CLIENT}", json_str(&dir.join("cases.json").display().to_string())));
        let lines: HashMap<String, Vec<String>> = out
            .lines()
            .map(|l| l.split('\t').map(str::to_string).collect::<Vec<_>>())
            .filter(|f| f.len() == 5)
            .map(|f| (f[0].clone(), f))
            .collect();
        let log = srv.log();
        let mut report = Report::default();
        for c in &cases {
            let section = log_section(&log, &format!("CASE-BEGIN {}", c.id), "CASE-BEGIN ");
            let problems = check_case(c, v, lines.get(c.id).map(Vec::as_slice), section);
            report.check(v, c.id, problems, c.bug_for(v));
        }
        if !srv.is_running() {
            report.failures.push(format!("[{v}] nbdkit is no longer running after the catalogue"));
        }
        let tail = tail(&log, 40);
        let (status, _) = srv.stop();
        if let Some(sig) = signal_of(status) {
            report.failures.push(format!("[{v}] nbdkit was killed by signal {sig}"));
        }
        report.finish(&tail);
    });
}

/// What the script does in case `id` (`callback=kind`), for the table.
fn what_happens(id: &str) -> String {
    let (cb, kind) = id.split_once('=').unwrap_or((id, ""));
    let text = match kind {
        "raise" => "raises RuntimeError",
        "str" => "returns a str",
        "none" => "returns None",
        "float" => "returns a float",
        "i63" => "returns 2**63",
        "big" => "returns 2**64",
        "huge" => "returns 2**200",
        "neg" => "returns -1 (or a tuple with -1)",
        "n99" => "returns 99",
        "obj" => "returns object()",
        "badbool" => "returns an object whose __bool__ raises",
        "nul" => "returns a string with a NUL",
        "list" if cb == "pread" => "returns a list of ints",
        "list" => "returns a list instead of a tuple",
        "four" => "returns a 4-tuple",
        "floats" => "returns a tuple of floats",
        "u32" => "returns (1, 4096, 2**32)",
        "nonsense" => "returns (3, 5, 7): not powers of 2",
        "long" if cb == "pread" => "assigns len(buf)+1 bytes / returns count+1 bytes",
        "short" => "assigns len(buf)-1 bytes / returns count-1 bytes",
        "empty" => "returns b'' / an empty list",
        "exit" if cb == "script" => "calls sys.exit()",
        "exit" => "calls sys.exit(N)",
        "exit3" => "calls sys.exit(3)",
        "sysexit" => "raises SystemExit",
        "kbint" => "raises KeyboardInterrupt",
        "recurse" => "recurses without end",
        "syntax" => "has a syntax error (exec)",
        "keep" => "keeps the buffer (memoryview) after returning; the next call uses it",
        "keepslice" => "keeps buf[1:10] after returning",
        "keepcast" => "keeps buf.cast('B') after returning",
        "keepmv" => "keeps memoryview(buf) after returning",
        "keepro" => "keeps buf.toreadonly() after returning",
        "keepctypes" => "keeps (c_char * n).from_buffer(buf) after returning",
        "int" => "returns an int (not iterable / not a buffer)",
        "ints" => "yields ints",
        "pairs" => "returns 2-tuples",
        "strs" => "returns a str offset",
        "negative" => "returns a negative length",
        "type32" => "returns a type of 2**32",
        "big-offset" => "returns an offset of 2**64",
        "beyond" => "returns an extent running past the disk's end",
        "before" => "returns only extents before the requested offset",
        "after" => "returns an extent starting after the requested range",
        "gap" => "returns extents with a gap",
        "overlap" => "returns overlapping extents",
        "descending" => "returns extents in descending order",
        "zero-len" => "returns a zero-length extent",
        "gen-raise" => "returns a generator that raises after one item",
        "triple" => "yields 3-tuples",
        "descint" => "yields (name, 5)",
        "bytes" => "returns bytes that are not UTF-8",
        "surrogate" => "returns a str with a lone surrogate",
        "long" => "returns a 5000-character name",
        "good" => "behaves (control)",
        "bytearray" | "memoryview" | "array" => "returns a bytearray / memoryview / array.array",
        other => other,
    };
    if cb == "script" {
        return format!("the script body {text}");
    }
    format!("`{cb}` {text}")
}

/// The table for docs/reliability.md, printed with the test output.
fn print_catalogue(cases: &[Case]) {
    println!("| case | what happens | ours | reference |");
    println!("|---|---|---|---|");
    let text = |o: Outcome| match o {
        Outcome::Fails(e) => format!("request fails {e}"),
        Outcome::Refused => "connection refused".into(),
        Outcome::Returns(r) => format!("returns `{r}`"),
    };
    for c in cases {
        let ours = text(c.ours);
        let bug = c.bug.map(|b| format!(" **BUG**: {}", b.what)).unwrap_or_default();
        let reference = match c.reference {
            Ref::Same("") => "same, no message".into(),
            Ref::Same(_) => "same".into(),
            Ref::Other(o, _, why) => format!("{}: {why}", text(o)),
            Ref::Skip(why) => format!("not run: {why}"),
        };
        let log = match c.what.strip_prefix('~') {
            Some("") => "no error".to_string(),
            Some(t) => format!("log: `{t}`"),
            None => format!("log: `plugin.py: {}: error: ...{}`", c.callback(), c.what),
        };
        let only = c.only.map(|i| format!(" ({i:?} only)")).unwrap_or_default();
        println!("| `{}` | {}{only} | {ours}; {log}{bug} | {reference} |", c.id, what_happens(c.id));
    }
}

/// The API v2 script of the catalogue: the export name `callback=kind`
/// makes `callback` misbehave in the way `kind` names; any other export is
/// a well-behaved 1 MiB disk that advertises every feature.
const BAD_V2: &str = r#"
API_VERSION = 2
DISK = bytearray(1024 * 1024)
KEPT = []

class BadBool:
    def __bool__(self):
        raise RuntimeError('bool of BadBool')

VALUES = {
    'str': '1M', 'none': None, 'float': 1.5, 'big': 2**64, 'i63': 2**63,
    'huge': 2**200, 'neg': -1, 'n99': 99, 'obj': object(), 'badbool': BadBool(),
    'nul': 'a\0b',
}

def thread_model():
    return nbdkit.THREAD_MODEL_PARALLEL

def bad(h, cb):
    name, _, kind = h.partition('=')
    return kind if name == cb else None

def result(h, cb, good):
    kind = bad(h, cb)
    if kind is None:
        return good
    if kind == 'raise':
        raise RuntimeError('%s raised on purpose' % cb)
    return VALUES[kind]

def open(readonly):
    name = nbdkit.export_name()
    if name.startswith('mark='):
        nbdkit.debug('CASE-BEGIN ' + name[5:])
    return name

def get_size(h):
    return result(h, 'get_size', len(DISK))

BLOCK_SIZES = {
    'none': None, 'str': 'abc', 'list': [512, 4096, 65536], 'four': (1, 2, 3, 4),
    'floats': (1.0, 2.0, 3.0), 'neg': (-1, 4096, 65536), 'u32': (1, 4096, 2**32),
    'nonsense': (3, 5, 7),
}

def block_size(h):
    kind = bad(h, 'block_size')
    if kind == 'raise':
        raise RuntimeError('block_size raised on purpose')
    return BLOCK_SIZES[kind] if kind else (1, 4096, 1024 * 1024)

def _answer(cb, good):
    def answer(h):
        return result(h, cb, good)
    return answer

for _cb in ['can_write', 'can_flush', 'is_rotational', 'can_trim', 'can_zero',
            'can_fast_zero', 'can_extents', 'can_multi_conn']:
    globals()[_cb] = _answer(_cb, True)
can_fua = _answer('can_fua', nbdkit.FUA_NATIVE)
can_cache = _answer('can_cache', nbdkit.CACHE_NATIVE)
export_description = _answer('export_description', 'fine')

def check_kept():
    # A view kept by an earlier call must be dead by now.
    while KEPT:
        v = KEPT.pop()
        try:
            data = bytes(v[0:4])
        except ValueError as e:
            nbdkit.debug('kept view refused: %s: %s' % (type(e).__name__, e))
            continue
        raise RuntimeError('STALE: a view kept from an earlier call still reads %r' % data)

def pread(h, buf, offset, flags):
    kind = bad(h, 'pread') if offset == 0 else None
    check_kept()
    if kind == 'raise':
        raise RuntimeError('pread raised on purpose')
    elif kind == 'long':
        buf[:] = b'x' * (len(buf) + 1)
    elif kind == 'short':
        buf[:] = b'x' * (len(buf) - 1)
    elif kind == 'exit':
        sys.exit(3)
    elif kind == 'sysexit':
        raise SystemExit(4)
    elif kind == 'kbint':
        raise KeyboardInterrupt()
    elif kind == 'recurse':
        def down(n):
            return down(n + 1)
        down(0)
    elif kind == 'keep':
        KEPT.append(buf)
    elif kind == 'keepslice':
        KEPT.append(buf[1:10])
    elif kind == 'keepcast':
        KEPT.append(buf.cast('B'))
    elif kind == 'keepmv':
        KEPT.append(memoryview(buf))
    elif kind == 'keepro':
        KEPT.append(buf.toreadonly())
    elif kind == 'keepctypes':
        import ctypes
        KEPT.append((ctypes.c_char * len(buf)).from_buffer(buf))
    buf[:] = DISK[offset:offset + len(buf)]

def pwrite(h, buf, offset, flags):
    kind = bad(h, 'pwrite')
    check_kept()
    if kind == 'raise':
        raise RuntimeError('pwrite raised on purpose')
    if kind == 'keep':
        KEPT.append(buf)
    DISK[offset:offset + len(buf)] = buf
    if kind == 'str':
        return 'a result nobody reads'

def flush(h, flags):
    if bad(h, 'flush') == 'raise':
        raise RuntimeError('flush raised on purpose')

def trim(h, count, offset, flags):
    if bad(h, 'trim') == 'raise':
        raise RuntimeError('trim raised on purpose')

def zero(h, count, offset, flags):
    if bad(h, 'zero') == 'raise':
        raise RuntimeError('zero raised on purpose')
    DISK[offset:offset + count] = bytearray(count)

def cache(h, count, offset, flags):
    if bad(h, 'cache') == 'raise':
        raise RuntimeError('cache raised on purpose')

def extents(h, count, offset, flags):
    kind = bad(h, 'extents')
    if kind == 'raise':
        raise RuntimeError('extents raised on purpose')
    if kind == 'gen-raise':
        def gen():
            yield (offset, count, 0)
            raise ValueError('generator broke')
        return gen()
    return {
        'int': 5,
        'none': None,
        'pairs': [(offset, count)],
        'strs': [('0', count, 0)],
        'negative': [(offset, -1, 0)],
        'type32': [(offset, count, 2**32)],
        'before': [(0, offset, 0)],
        'after': [(offset + count + 4096, 512, 0)],
        'beyond': [(offset, 2**62, 0)],
        'gap': [(offset, 512, 0), (offset + 1024, 512, 3)],
        'overlap': [(offset, 1024, 0), (offset + 512, 1024, 3)],
        'descending': [(offset + 512, 512, 0), (offset, 512, 0)],
        'zero-len': [(offset, 0, 0)],
        'big-offset': [(2**64, 512, 0)],
    }.get(kind, [(offset, count, 0)])
"#;

const CONNECT: &str = "h.get_size()";
const STATUS: &str = "h.block_status(4096, 0, lambda *a: 0)";
const STATUS_8K: &str = "h.block_status(4096, 8192, lambda *a: 0)";
const READ: &str = "h.pread(512, 0)";
const ZEROS4: &str = r"b'\x00\x00\x00\x00'";

const TRUTH: &str = "Python truth: ours reads the value with bool(), the reference only counts True";
const DANGLING: &str = "the reference lends nbdkit's buffer for good: a kept view reads or writes freed memory";

fn v2_cases() -> Vec<Case> {
    use Outcome::*;
    use Ref::*;
    let int_msg = "names PyLong_AsLongLong instead of get_size";
    vec![
        // get_size
        case("get_size=raise", CONNECT, Refused, "RuntimeError: get_size raised on purpose", Same("RuntimeError: get_size raised on purpose")),
        case("get_size=str", CONNECT, Refused, "TypeError: 'str' object cannot be interpreted as an integer", Other(Refused, "'str' object cannot be interpreted as an integer", int_msg)),
        case("get_size=none", CONNECT, Refused, "'NoneType' object cannot be interpreted as an integer", Other(Refused, "'NoneType' object cannot be interpreted as an integer", int_msg)),
        case("get_size=float", CONNECT, Refused, "'float' object cannot be interpreted as an integer", Other(Refused, "'float' object cannot be interpreted as an integer", int_msg)),
        case("get_size=i63", CONNECT, Refused, "OverflowError", Other(Refused, "int too big to convert", int_msg)),
        case("get_size=big", CONNECT, Refused, "OverflowError", Other(Refused, "int too big to convert", int_msg)),
        case("get_size=huge", CONNECT, Refused, "OverflowError", Other(Refused, "int too big to convert", int_msg)),
        case("get_size=neg", CONNECT, Refused, "get_size returned a negative size: -1", Other(Refused, "", "no message at all")),
        // block_size
        case("block_size=raise", CONNECT, Refused, "RuntimeError: block_size raised on purpose", Same("RuntimeError: block_size raised on purpose")),
        case("block_size=none", CONNECT, Refused, "block_size method did not return a tuple of three unsigned 32-bit integers", Other(Refused, "argument is not a tuple", "message from PyArg_ParseTuple")),
        case("block_size=str", CONNECT, Refused, "did not return a tuple of three unsigned 32-bit integers", Other(Refused, "argument is not a tuple", "message from PyArg_ParseTuple")),
        case("block_size=list", CONNECT, Refused, "did not return a tuple of three unsigned 32-bit integers", Other(Refused, "argument is not a tuple", "message from PyArg_ParseTuple")),
        case("block_size=four", CONNECT, Refused, "did not return a tuple of three unsigned 32-bit integers", Other(Refused, "function takes exactly 3 arguments (4 given)", "message from PyArg_ParseTuple")),
        case("block_size=floats", CONNECT, Refused, "'float' object cannot be interpreted as an integer", Same("'float' object cannot be interpreted as an integer")),
        case("block_size=neg", CONNECT, Refused, "OverflowError: can't convert negative int to unsigned", Other(Refused, "plugin must set minimum block size between 1 and 64K", "-1 wraps to 4294967295; nbdkit refuses that")),
        case("block_size=u32", CONNECT, Refused, "did not return a tuple of three unsigned 32-bit integers", Other(Refused, "minimum block size <= preferred <= maximum", "2**32 wraps to 0; nbdkit refuses that")),
        // Ours checks nbdkit's rules itself, so the message names the script.
        case("block_size=nonsense", CONNECT, Refused, "must be a power of 2 between 1 and 64K", Same("plugin must set minimum block size to a power of 2")),
        // flags
        case("can_write=raise", CONNECT, Refused, "RuntimeError: can_write raised on purpose", Same("RuntimeError: can_write raised on purpose")),
        case("can_write=str", "h.is_read_only()", Returns("False"), "~", Other(Returns("True"), "", TRUTH)),
        case("can_write=obj", "h.is_read_only()", Returns("False"), "~", Other(Returns("True"), "", TRUTH)),
        case("can_write=none", "h.is_read_only()", Returns("True"), "~", Same("")),
        case("can_write=badbool", CONNECT, Refused, "RuntimeError: bool of BadBool", Other(Returns("1048576"), "", "the reference never calls bool(): the export is read-only")),
        case("can_flush=str", "h.can_flush()", Returns("True"), "~", Other(Returns("False"), "", TRUTH)),
        case("can_trim=float", "h.can_trim()", Returns("True"), "~", Other(Returns("False"), "", TRUTH)),
        case("can_flush=raise", CONNECT, Refused, "RuntimeError: can_flush raised on purpose", Same("RuntimeError: can_flush raised on purpose")),
        case("is_rotational=raise", CONNECT, Refused, "RuntimeError: is_rotational raised on purpose", Same("RuntimeError: is_rotational raised on purpose")),
        case("can_trim=raise", CONNECT, Refused, "RuntimeError: can_trim raised on purpose", Same("RuntimeError: can_trim raised on purpose")),
        case("can_zero=raise", CONNECT, Refused, "RuntimeError: can_zero raised on purpose", Same("RuntimeError: can_zero raised on purpose")),
        case("can_fast_zero=raise", CONNECT, Refused, "RuntimeError: can_fast_zero raised on purpose", Same("RuntimeError: can_fast_zero raised on purpose")),
        case("can_extents=raise", CONNECT, Refused, "RuntimeError: can_extents raised on purpose", Same("RuntimeError: can_extents raised on purpose")),
        case("can_multi_conn=raise", CONNECT, Refused, "RuntimeError: can_multi_conn raised on purpose", Same("RuntimeError: can_multi_conn raised on purpose")),
        case("can_multi_conn=badbool", CONNECT, Refused, "RuntimeError: bool of BadBool", Other(Returns("1048576"), "", "the reference never calls bool(): multi-conn is off")),
        case("can_fua=raise", CONNECT, Refused, "RuntimeError: can_fua raised on purpose", Same("RuntimeError: can_fua raised on purpose")),
        case("can_fua=str", CONNECT, Refused, "'str' object cannot be interpreted as an integer", Other(Refused, "", "no message at all")),
        case("can_fua=none", CONNECT, Refused, "'NoneType' object cannot be interpreted as an integer", Other(Refused, "", "no message at all")),
        case("can_fua=float", CONNECT, Refused, "'float' object cannot be interpreted as an integer", Other(Refused, "", "no message at all")),
        case("can_fua=big", CONNECT, Refused, "OverflowError", Other(Refused, "", "no message at all")),
        // -1 would reach nbdkit as its silent error value: ours refuses it by name.
        case("can_fua=neg", CONNECT, Refused, "can_fua returned -1", Same("")),
        case("can_fua=n99", "h.can_fua()", Returns("True"), "~", Same("")),
        case("can_cache=raise", CONNECT, Refused, "RuntimeError: can_cache raised on purpose", Same("RuntimeError: can_cache raised on purpose")),
        case("can_cache=str", CONNECT, Refused, "'str' object cannot be interpreted as an integer", Other(Refused, "", "no message at all")),
        case("can_cache=big", CONNECT, Refused, "OverflowError", Other(Refused, "", "no message at all")),
        // As can_fua=neg.
        case("can_cache=neg", CONNECT, Refused, "can_cache returned -1", Same("")),
        // export_description: the export works, without a description
        case("export_description=raise", "h.get_export_description()", Fails("ENOTSUP"), "RuntimeError: export_description raised on purpose", Same("RuntimeError: export_description raised on purpose")),
        case("export_description=big", "h.get_export_description()", Fails("ENOTSUP"), "export_description method did not return a string", Same("export_description method did not return a string")),
        case("export_description=none", "h.get_export_description()", Fails("ENOTSUP"), "export_description method did not return a string", Same("export_description method did not return a string")),
        case("export_description=nul", "h.get_export_description()", Fails("ENOTSUP"), "containing a NUL byte", Other(Returns("'a'"), "", "the reference cuts the text at the NUL; ours refuses it")),
        // pread (API 2)
        case("pread=raise", READ, Fails("EIO"), "RuntimeError: pread raised on purpose", Same("RuntimeError: pread raised on purpose")),
        case("pread=long", READ, Fails("EIO"), "ValueError: memoryview assignment", Same("ValueError: memoryview assignment")),
        case("pread=short", READ, Fails("EIO"), "ValueError: memoryview assignment", Same("ValueError: memoryview assignment")),
        case("pread=exit", READ, Fails("EIO"), "SystemExit: 3", Same("SystemExit: 3")),
        case("pread=sysexit", READ, Fails("EIO"), "SystemExit: 4", Same("SystemExit: 4")),
        case("pread=kbint", READ, Fails("EIO"), "KeyboardInterrupt", Same("KeyboardInterrupt")),
        case("pread=recurse", READ, Fails("EIO"), "RecursionError: maximum recursion depth exceeded", Same("RecursionError: maximum recursion depth exceeded")),
        case("pread=keep", READ, Returns(ZEROS4), "~kept view refused: ValueError", Skip(DANGLING)),
        case("pread=keepslice", READ, Returns(ZEROS4), "~kept view refused: ValueError", Skip(DANGLING)),
        case("pread=keepcast", READ, Returns(ZEROS4), "~kept view refused: ValueError", Skip(DANGLING)),
        case("pread=keepmv", READ, Returns(ZEROS4), "~kept view refused: ValueError", Skip(DANGLING)),
        case("pread=keepro", READ, Returns(ZEROS4), "~kept view refused: ValueError", Skip(DANGLING)),
        // A limit that stays (CPython): ctypes' from_buffer keeps the raw
        // address, and no release can take it back. Ours logs "the script
        // kept the buffer after the call returned ... dangling" each time.
        case("pread=keepctypes", READ, Returns(ZEROS4), "~kept view refused: ValueError", Skip(DANGLING))
            .only(Imp::CPython)
            .bug(None, "(ctypes.c_char * n).from_buffer(buf) kept after pread still reaches nbdkit's buffer (reported in the log, cannot be revoked)"),
        // pwrite and the other data callbacks
        case("pwrite=raise", "h.pwrite(b'a' * 512, 0)", Fails("EIO"), "RuntimeError: pwrite raised on purpose", Same("RuntimeError: pwrite raised on purpose")),
        case("pwrite=str", "h.pwrite(b'a' * 512, 0)", Returns("None"), "~", Same("")),
        case("pwrite=keep", "h.pwrite(b'k' * 512, 0)", Returns("None"), "~kept view refused: ValueError", Skip(DANGLING)),
        case("flush=raise", "h.flush()", Fails("EIO"), "RuntimeError: flush raised on purpose", Same("RuntimeError: flush raised on purpose")),
        case("trim=raise", "h.trim(512, 0)", Fails("EIO"), "RuntimeError: trim raised on purpose", Same("RuntimeError: trim raised on purpose")),
        case("zero=raise", "h.zero(512, 0)", Fails("EIO"), "RuntimeError: zero raised on purpose", Same("RuntimeError: zero raised on purpose")),
        case("cache=raise", "h.cache(512, 0)", Fails("EIO"), "RuntimeError: cache raised on purpose", Same("RuntimeError: cache raised on purpose")),
        // extents
        case("extents=raise", STATUS, Fails("EIO"), "RuntimeError: extents raised on purpose", Same("RuntimeError: extents raised on purpose")),
        case("extents=int", STATUS, Fails("EIO"), "extents method did not return something which is iterable", Same("extents method did not return something which is iterable")),
        case("extents=none", STATUS, Fails("EIO"), "extents method did not return something which is iterable", Same("extents method did not return something which is iterable")),
        case("extents=gen-raise", STATUS, Fails("EIO"), "ValueError: generator broke", Other(Returns("None"), "", "the reference ignores the exception and keeps the extents before it")),
        case("extents=pairs", STATUS, Fails("EIO"), "extents method did not return an iterable of 3-tuples", Same("extents method did not return an iterable of 3-tuples")),
        case("extents=strs", STATUS, Fails("EIO"), "'str' object cannot be interpreted as an integer", Same("an integer is required")),
        case("extents=negative", STATUS, Fails("EIO"), "can't convert negative int to unsigned", Same("can't convert negative int to unsigned")),
        case("extents=type32", STATUS, Fails("EIO"), "extents method returned a type that does not fit 32 bits", Other(Returns("None"), "", "the reference cuts the type to 32 bits")),
        case("extents=big-offset", STATUS, Fails("EIO"), "OverflowError", Same("int too big to convert")),
        case("extents=beyond", STATUS, Returns("None"), "~", Same("")),
        // Ours checks that some extent covers the request (nbdkit would drop
        // the others and fail in its own words).
        case("extents=before", STATUS_8K, Fails("EIO"), "no extent that covers offset 8192", Other(Fails("EINVAL"), "plugin must return at least one extent", "nbdkit's own message, EINVAL")),
        case("extents=zero-len", STATUS, Fails("EIO"), "no extent that covers offset 0", Other(Fails("EINVAL"), "plugin must return at least one extent", "nbdkit's own message, EINVAL")),
        // The following are refused by nbdkit_add_extent, in nbdkit's words;
        // ours adds a line naming the script, the callback and the extent.
        case("extents=after", STATUS, Fails("EINVAL"), "first extent must not be > start", Other(Fails("EIO"), "first extent must not be > start", "EIO instead of nbdkit's EINVAL")),
        case("extents=descending", STATUS, Fails("EINVAL"), "first extent must not be > start", Other(Fails("EIO"), "first extent must not be > start", "EIO instead of nbdkit's EINVAL")),
        case("extents=gap", STATUS, Fails("EINVAL"), "must be added in ascending order and must be contiguous", Other(Fails("EIO"), "must be contiguous", "EIO instead of nbdkit's EINVAL")),
        case("extents=overlap", STATUS, Fails("EINVAL"), "must be added in ascending order and must be contiguous", Other(Fails("EIO"), "must be contiguous", "EIO instead of nbdkit's EINVAL")),
    ]
}

#[test]
fn catalogue_bad_results_api_v2() {
    run_catalogue(&[BAD_V2], &v2_cases());
}

/// API version 1 (no `API_VERSION`): `pread` returns the data.
const BAD_V1: &str = r#"
def bad(h, cb):
    name, _, kind = h.partition('=')
    return kind if name == cb else None

def open(readonly):
    name = nbdkit.export_name()
    if name.startswith('mark='):
        nbdkit.debug('CASE-BEGIN ' + name[5:])
    return name

def get_size(h):
    return 1024 * 1024

def pread(h, count, offset):
    kind = bad(h, 'pread') if offset == 0 else None
    if kind == 'raise':
        raise RuntimeError('pread raised on purpose')
    return {
        'short': b'x' * (count - 1),
        'long': b'y' * (count + 1),
        'empty': b'',
        'str': 'x' * count,
        'none': None,
        'int': 42,
        'list': [0] * count,
        'bytearray': bytearray(b'b' * count),
        'memoryview': memoryview(b'm' * count),
        'array': __import__('array').array('B', b'a' * count),
    }.get(kind, bytes(count))
"#;

fn v1_cases() -> Vec<Case> {
    use Outcome::*;
    use Ref::*;
    vec![
        case("pread=raise", READ, Fails("EIO"), "RuntimeError: pread raised on purpose", Same("RuntimeError: pread raised on purpose")),
        case("pread=short", READ, Fails("EIO"), "buffer returned from pread is too small", Same("buffer returned from pread is too small")),
        case("pread=empty", READ, Fails("EIO"), "buffer returned from pread is too small", Same("buffer returned from pread is too small")),
        case("pread=long", READ, Returns("b'yyyy'"), "~", Same("")),
        case("pread=str", READ, Fails("EIO"), "does not support the buffer protocol", Same("does not support the buffer protocol")),
        case("pread=none", READ, Fails("EIO"), "does not support the buffer protocol", Same("does not support the buffer protocol")),
        case("pread=int", READ, Fails("EIO"), "does not support the buffer protocol", Same("does not support the buffer protocol")),
        case("pread=list", READ, Fails("EIO"), "does not support the buffer protocol", Same("does not support the buffer protocol")),
        case("pread=bytearray", READ, Returns("b'bbbb'"), "~", Same("")),
        case("pread=memoryview", READ, Returns("b'mmmm'"), "~", Same("")),
        case("pread=array", READ, Returns("b'aaaa'"), "~", Same("")),
    ]
}

#[test]
fn catalogue_bad_results_api_v1() {
    run_catalogue(&[BAD_V1], &v1_cases());
}

/// list_exports and default_export misbehave as the file `mode.txt`
/// (`callback=kind`) says; each call logs `CASE-BEGIN callback=kind` first.
const BAD_EXPORTS: &str = r#"
API_VERSION = 2
MODE_FILE = os.path.join(os.path.dirname(os.environ['CONFORMANCE_RECORD']), 'mode.txt')

def mode(cb):
    with builtins.open(MODE_FILE) as f:
        m = f.read().strip()
    name, _, kind = m.partition('=')
    if name != cb:
        return None
    nbdkit.debug('CASE-BEGIN ' + m)
    if kind == 'raise':
        raise RuntimeError('%s raised on purpose' % cb)
    return kind

def gen_raise(first):
    yield first
    raise ValueError('generator broke')

def list_exports(readonly, is_tls):
    kind = mode('list_exports')
    if kind == 'gen-raise':
        return gen_raise('a')
    return {
        'int': 5,
        'ints': [1, 2],
        'nul': ['a\0b'],
        'triple': [('a', 'b', 'c')],
        'descint': [('a', 5)],
        'bytes': [b'\xff\xfe'],
        'surrogate': ['a\udcff'],
        'long': ['x' * 5000],
        'empty': [],
    }.get(kind, ['a', ('b', 'the b disk')])

def default_export(readonly, is_tls):
    kind = mode('default_export')
    return {
        'int': 5,
        'none': None,
        'nul': 'a\0b',
        'bytes': b'\xff',
        'surrogate': 'a\udcff',
        'long': 'x' * 5000,
    }.get(kind, 'a')

def open(readonly):
    return 1

def get_size(h):
    return 1024 * 1024

def pread(h, buf, offset, flags):
    buf[:] = bytes(len(buf))
"#;

/// Client for [`BAD_EXPORTS`]: the same line format as the catalogue client.
/// `list_exports=...`: list in option mode, then go; `default_export=...`:
/// connect to "" with full info and ask the canonical name.
const EXPORTS_CLIENT: &str = r#"
import json
def line(*fields):
    print("\t".join(str(f).replace("\t", " ").replace("\n", " ") for f in fields), flush=True)
MODE = os.path.join(os.path.dirname(sys.argv[1]), 'mode.txt')
def set_mode(m):
    with open(MODE, 'w') as f:
        f.write(m)
for cid, action in json.load(open(sys.argv[1])):
    set_mode(cid)
    connected, result, nxt = "ok", "-", "-"
    h = nbd.NBD()
    if cid.startswith('list_exports'):
        h.set_opt_mode(True)
        h.connect_unix(SOCK)
        try:
            got = []
            h.opt_list(lambda name, desc: got.append(name) or 0)
            result = "returns %r" % (got,)
        except nbd.Error as e:
            result = "fails %s" % e.errno
        try:
            h.opt_go()
            h.pread(512, 0)
            nxt = "ok"
        except Exception as e:
            nxt = repr(e)
    else:
        h.set_full_info(True)
        try:
            h.connect_unix(SOCK)
        except nbd.Error as e:
            connected = "refused %s" % e.errno
        if connected == "ok":
            try:
                result = "returns %r" % (h.get_canonical_export_name(),)
            except Exception as e:
                # A name that is not UTF-8: libnbd's Python cannot decode it.
                result = "fails %s" % type(e).__name__
            try:
                h.pread(512, 0)
                nxt = "ok"
            except Exception as e:
                nxt = repr(e)
    set_mode('')
    try:
        connect().pread(512, 0)
        new = "ok"
    except Exception as e:
        new = repr(e)
    line(cid, connected, result, nxt, new)
"#;

fn exports_cases() -> Vec<Case> {
    use Outcome::*;
    use Ref::*;
    let list = "(list)";
    let name = "(name)";
    let crash = "nbdkit's plugin crashes nbdkit (the server dies)";
    vec![
        case("list_exports=good", list, Returns("['a', 'b']"), "~", Same("")),
        case("list_exports=empty", list, Returns("[]"), "~", Same("")),
        case("list_exports=raise", list, Fails("ENOTSUP"), "RuntimeError: list_exports raised on purpose", Same("RuntimeError: list_exports raised on purpose")),
        case("list_exports=int", list, Fails("ENOTSUP"), "list_exports method did not return something which is iterable", Same("list_exports method did not return something which is iterable")),
        case("list_exports=ints", list, Fails("ENOTSUP"), "list_exports method did not return an iterable of 2-tuples", Same("list_exports method did not return an iterable of 2-tuples")),
        case("list_exports=triple", list, Fails("ENOTSUP"), "list_exports method did not return an iterable of 2-tuples", Same("list_exports method did not return an iterable of 2-tuples")),
        case("list_exports=descint", list, Fails("ENOTSUP"), "did not return an iterable of string 2-tuples", Same("did not return an iterable of string 2-tuples")),
        case("list_exports=nul", list, Fails("ENOTSUP"), "returned an export name containing a NUL byte", Other(Returns("['a']"), "", "the reference cuts the name at the NUL")),
        case("list_exports=gen-raise", list, Fails("ENOTSUP"), "ValueError: generator broke", Other(Returns("['a']"), "", "the reference ignores the exception and lists what came before")),
        case("list_exports=long", list, Fails("ENOTSUP"), "longer than NBD allows", Same("nbdkit_add_export: string too long")),
        case("list_exports=bytes", list, Fails("ENOTSUP"), "UTF-8", Other(Returns("[]"), "", "the name goes to the client; libnbd's Python cannot decode it")),
        case("list_exports=surrogate", list, Fails("ENOTSUP"), "UTF-8", Skip(crash)),
        case("default_export=good", name, Returns("'a'"), "~", Same("")),
        case("default_export=raise", name, Refused, "RuntimeError: default_export raised on purpose", Same("RuntimeError: default_export raised on purpose")),
        case("default_export=int", name, Refused, "default_export method did not return a string", Same("default_export method did not return a string")),
        case("default_export=none", name, Refused, "default_export method did not return a string", Same("default_export method did not return a string")),
        case("default_export=bytes", name, Refused, "default_export returned an export name that is not valid UTF-8", Other(Fails("UnicodeDecodeError"), "", "the name goes to the client; libnbd's Python cannot decode it")),
        case("default_export=long", name, Refused, "longer than NBD allows", Same("default export (\"\") not permitted")),
        case("default_export=nul", name, Refused, "NUL", Other(Returns("'a'"), "", "the reference cuts the name at the NUL")),
        case("default_export=surrogate", name, Refused, "UTF-8", Skip(crash)),
    ]
}

#[test]
fn catalogue_bad_exports() {
    let cases = exports_cases();
    print_catalogue(&cases);
    for_each_variant(|v| {
        let cases: Vec<&Case> = cases.iter().filter(|c| c.applies_to(v)).collect();
        let dir = Dir::new();
        dir.write("mode.txt", "");
        let srv = Nbdkit::new(v, &dir, &[BAD_EXPORTS]).start();
        let list: Vec<String> =
            cases.iter().map(|c| format!("[{}, {}]", json_str(c.id), json_str(c.action))).collect();
        let file = dir.write("cases.json", format!("[{}]", list.join(",\n")));
        let out = srv.py(&format!("sys.argv = ['', {}]\n{EXPORTS_CLIENT}", json_str(&file.display().to_string())));
        let lines: HashMap<String, Vec<String>> = out
            .lines()
            .map(|l| l.split('\t').map(str::to_string).collect::<Vec<_>>())
            .filter(|f| f.len() == 5)
            .map(|f| (f[0].clone(), f))
            .collect();
        let log = srv.log();
        let mut report = Report::default();
        for c in &cases {
            let section = if c.what.starts_with('~') && !v.is_reference() {
                Some("")
            } else {
                log_section(&log, &format!("CASE-BEGIN {}", c.id), "CASE-BEGIN ")
            };
            let problems = check_case(c, v, lines.get(c.id).map(Vec::as_slice), section);
            report.check(v, c.id, problems, c.bug_for(v));
        }
        let tail = tail(&log, 40);
        let (status, _) = srv.stop();
        if let Some(sig) = signal_of(status) {
            report.failures.push(format!("[{v}] nbdkit was killed by signal {sig}"));
        }
        report.finish(&tail);
    });
}

// ---------------------------------------------------------------------------
// 1b. Scripts that fail at load time or in a lifecycle callback

/// How nbdkit ends up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Life {
    /// nbdkit exits at start-up with this status (never by a signal).
    Exits(i32),
    /// nbdkit serves two connections and exits 0 on SIGTERM.
    Serves,
}

#[derive(Clone, Copy, Debug)]
enum LifeRef {
    Same(&'static str),
    Other(Life, &'static str, &'static str),
}

struct LifeCase {
    id: &'static str,
    ours: Life,
    /// As [`Case::what`]; the callback is the part of `id` before `=`
    /// (`script` for the script body).
    what: &'static str,
    reference: LifeRef,
    bug: Option<Bug>,
}

fn life(id: &'static str, ours: Life, what: &'static str, reference: LifeRef) -> LifeCase {
    LifeCase { id, ours, what, reference, bug: None }
}

impl LifeCase {
    fn bug(mut self, on: Option<Imp>, what: &'static str) -> Self {
        self.bug = Some(Bug { on, what });
        self
    }
}

/// The script for [`LifeCase`]s: `CASE` (from the environment) picks the
/// misbehaviour; anything else is a good 1 MiB disk.
const BAD_LIFE: &str = r#"
API_VERSION = 2
CASE = os.environ.get('CASE', '')
def here(cb):
    name, _, kind = CASE.partition('=')
    return kind if name == cb else None

kind = here('script')
if kind == 'exit3':
    sys.exit(3)
elif kind == 'exit':
    sys.exit()
elif kind == 'sysexit':
    raise SystemExit('bye from the script')
elif kind == 'kbint':
    raise KeyboardInterrupt()
elif kind == 'recurse':
    def down(n):
        return down(n + 1)
    down(0)
elif kind == 'raise':
    raise RuntimeError('the script body raised')
elif kind == 'syntax':
    exec('def (:')

def raising(cb):
    def f(*args):
        if here(cb) == 'raise':
            raise RuntimeError('%s raised on purpose' % cb)
        if here(cb) == 'exit':
            sys.exit(5)
    return f

for _cb in ['load', 'unload', 'config', 'config_complete', 'get_ready', 'after_fork',
            'cleanup', 'close']:
    globals()[_cb] = raising(_cb)

def thread_model():
    kind = here('thread_model')
    if kind == 'raise':
        raise RuntimeError('thread_model raised on purpose')
    return {'str': 'parallel', 'none': None, 'float': 1.0, 'big': 2**64, 'neg': -1,
            'n99': 99}.get(kind, nbdkit.THREAD_MODEL_PARALLEL)

def open(readonly):
    return 1
def get_size(h):
    return 1024 * 1024
def pread(h, buf, offset, flags):
    buf[:] = bytes(len(buf))
"#;

fn life_cases() -> Vec<LifeCase> {
    use Life::*;
    use LifeRef::*;
    let no_msg = "no message at all";
    vec![
        life("script=exit3", Exits(1), "SystemExit: 3", Other(Exits(3), "", "the reference exits with the script's status, silently")),
        life("script=exit", Exits(1), "SystemExit", Other(Exits(0), "", "the reference exits 0, silently, as if all went well")),
        life("script=sysexit", Exits(1), "SystemExit: bye from the script", Other(Exits(1), "bye from the script", "the reference prints only the message")),
        life("script=kbint", Exits(1), "KeyboardInterrupt", Same("KeyboardInterrupt")),
        life("script=recurse", Exits(1), "RecursionError: maximum recursion depth exceeded", Same("RecursionError")),
        life("script=raise", Exits(1), "RuntimeError: the script body raised", Same("RuntimeError: the script body raised")),
        life("script=syntax", Exits(1), "SyntaxError", Same("SyntaxError")),
        life("config=raise", Exits(1), "RuntimeError: config raised on purpose", Same("RuntimeError: config raised on purpose")),
        life("config=exit", Exits(1), "SystemExit: 5", Same("SystemExit: 5")),
        life("config_complete=raise", Exits(1), "RuntimeError: config_complete raised on purpose", Same("RuntimeError: config_complete raised on purpose")),
        life("config_complete=exit", Exits(1), "SystemExit: 5", Same("SystemExit: 5")),
        life("thread_model=raise", Exits(1), "RuntimeError: thread_model raised on purpose", Same("RuntimeError: thread_model raised on purpose")),
        life("thread_model=str", Exits(1), "'str' object cannot be interpreted as an integer", Other(Exits(1), "", no_msg)),
        life("thread_model=none", Exits(1), "'NoneType' object cannot be interpreted as an integer", Other(Exits(1), "", no_msg)),
        life("thread_model=float", Exits(1), "'float' object cannot be interpreted as an integer", Other(Exits(1), "", no_msg)),
        life("thread_model=big", Exits(1), "OverflowError", Other(Exits(1), "", no_msg)),
        // -1 would reach nbdkit as its silent error value: ours refuses it by name.
        life("thread_model=neg", Exits(1), "thread_model returned -1", Same("")),
        life("thread_model=n99", Serves, "~using thread model: parallel", Same("using thread model: parallel")),
        life("get_ready=raise", Exits(1), "RuntimeError: get_ready raised on purpose", Same("RuntimeError: get_ready raised on purpose")),
        life("after_fork=raise", Exits(1), "RuntimeError: after_fork raised on purpose", Same("RuntimeError: after_fork raised on purpose")),
        life("load=raise", Serves, "RuntimeError: load raised on purpose", Other(Serves, "", "the reference never calls load()")),
        life("unload=raise", Serves, "RuntimeError: unload raised on purpose", Other(Serves, "", "the reference never calls unload()")),
        life("cleanup=raise", Serves, "RuntimeError: cleanup raised on purpose", Same("RuntimeError: cleanup raised on purpose")),
        life("close=raise", Serves, "RuntimeError: close raised on purpose", Same("RuntimeError: close raised on purpose")),
    ]
}

fn life_text(l: Life) -> String {
    match l {
        Life::Exits(n) => format!("nbdkit exits {n} at start-up"),
        Life::Serves => "nbdkit serves, exits 0 on SIGTERM".into(),
    }
}

#[test]
fn catalogue_lifecycle_failures() {
    let cases = life_cases();
    println!("| case | what happens | ours | reference |");
    println!("|---|---|---|---|");
    for c in &cases {
        let reference = match c.reference {
            LifeRef::Same("") => "same, no message".to_string(),
            LifeRef::Same(_) => "same".to_string(),
            LifeRef::Other(l, _, why) => format!("{}: {why}", life_text(l)),
        };
        let bug = c.bug.map(|b| format!(" **BUG**: {}", b.what)).unwrap_or_default();
        let log = match (c.what.strip_prefix('~'), c.id.split('=').next()) {
            (Some(t), _) => format!("log: `{t}`"),
            (None, Some("script")) => format!("log: `plugin.py: error running this script: ...{}`", c.what),
            (None, cb) => format!("log: `plugin.py: {}: error: ...{}`", cb.unwrap_or(""), c.what),
        };
        println!("| `{}` | {} | {}; {log}{bug} | {reference} |", c.id, what_happens(c.id), life_text(c.ours));
    }
    for_each_variant(|v| {
        let mut report = Report::default();
        for c in &cases {
            let (want, needles) = if v.is_reference() {
                match c.reference {
                    LifeRef::Same(n) => (c.ours, vec![n.to_string()]),
                    LifeRef::Other(l, n, why) => {
                        println!("deliberate difference ({}): {why}", c.id);
                        (l, vec![n.to_string()])
                    }
                }
            } else {
                let cb = c.id.split('=').next().unwrap_or("");
                match c.what.strip_prefix('~') {
                    Some(n) => (c.ours, vec![n.to_string()]),
                    None if cb == "script" => (c.ours, vec!["plugin.py: error running this script".into(), c.what.into()]),
                    None => (c.ours, vec![format!("plugin.py: {cb}: error:"), c.what.into()]),
                }
            };
            let needles: Vec<String> = needles.into_iter().filter(|n| !n.is_empty()).collect();
            let dir = Dir::new();
            let nb = Nbdkit::new(v, &dir, &[BAD_LIFE]).arg("key=value").env("CASE", c.id);
            let mut problems = Vec::new();
            let log = match want {
                Life::Exits(code) => {
                    let run = nb.run(RUN_TIMEOUT);
                    if signal_of(run.status).is_some() || run.status.code() != Some(code) {
                        problems.push(format!("exit status {}, wanted {code}", run.status));
                    }
                    format!("{}{}", run.stdout, run.stderr)
                }
                Life::Serves => {
                    let srv = nb.start();
                    let client = srv.py_run("for i in range(2):\n    connect().pread(512, 0)\n");
                    if !client.success() {
                        problems.push(format!("client failed: {}", tail(&client.stderr, 5)));
                    }
                    let (status, log) = srv.stop();
                    if !status.success() {
                        problems.push(format!("exit status {status} after SIGTERM, wanted 0"));
                    }
                    log
                }
            };
            for n in needles {
                if !log.contains(&n) {
                    problems.push(format!("log lacks {n:?}"));
                }
            }
            let bug = c.bug.and_then(|b| (!v.is_reference() && b.on.is_none_or(|i| i == implementation(v))).then_some(b.what));
            if !problems.is_empty() {
                problems.push(format!("log tail: {}", tail(&log, 8)));
            }
            report.check(v, c.id, problems, bug);
        }
        report.finish("");
    });
}

// ---------------------------------------------------------------------------
// 1c. Special scripts

#[test]
fn thread_started_at_load_survives_daemonizing() {
    // The script starts a thread that keeps the interpreter busy while
    // nbdkit forks into the background (no -f).
    for_each_variant_differing_from_reference(
        "nbdkit's plugin can deadlock in the forked child when a script thread \
         holds the GIL at fork time (seen here about one run in two); ours re-creates the lock",
        |v| {
            let dir = Dir::new();
            let daemon = Daemon::start(
                v,
                &dir,
                &[V2_DISK, "
                import threading
                def spin():
                    end = time.monotonic() + 5
                    n = 0
                    while time.monotonic() < end:
                        n += 1
                threading.Thread(target=spin, daemon=True).start()
                "],
            );
            let run = py_client(
                &dir,
                &daemon.sock,
                "
                for i in range(2):
                    h = nbd.NBD()
                    h.connect_unix(SOCK)
                    assert h.pread(4096, 0) == bytes(4096)
                    h.shutdown()
                print('served')
                ",
            );
            let log = fs::read_to_string(&daemon.log).unwrap_or_default();
            assert!(run.success() && run.stdout.contains("served"), "[{v}] the daemonized nbdkit did not serve: {run}\n{}", tail(&log, 30));
            assert!(daemon.stop(Duration::from_secs(60)), "[{v}] the daemonized nbdkit ignored SIGTERM for 60 s");
        },
    );
}

#[test]
fn c_extension_modules_work() {
    // CPython: extension modules from lib-dynload (_ctypes, _json, _decimal)
    // and a built-in one (zlib); RustPython: native modules of its own
    // standard library.
    for_each_variant(|v| {
        let dir = Dir::new();
        let srv = Nbdkit::new(
            v,
            &dir,
            &["
            API_VERSION = 2
            import zlib, json, decimal
            if sys.implementation.name == 'cpython':
                import _ctypes, _json, _decimal, ctypes
                for m in (_ctypes, _json, _decimal):
                    assert m.__file__.endswith('.so'), m
                record('extensions', _ctypes.__file__.rsplit('/', 1)[-1], _json.__file__.rsplit('/', 1)[-1])
                def fill(buf):
                    c = ctypes.create_string_buffer(len(buf))
                    ctypes.memset(c, ord('c'), len(buf))
                    buf[:] = c.raw
            else:
                record('implementation', sys.implementation.name)
                def fill(buf):
                    buf[:] = b'c' * len(buf)
            def open(readonly):
                return 1
            def get_size(h):
                return 1024 * 1024
            def pread(h, buf, offset, flags):
                fill(buf)
                crc = zlib.crc32(bytes(buf))
                text = json.dumps({'crc': crc, 'd': str(decimal.Decimal(1) / 8)})
                buf[0:len(text)] = text.encode()
            "],
        )
        .start();
        let out = srv.py(
            "
            h = connect()
            data = h.pread(4096, 0)
            d = json.loads(data[:data.index(b'}') + 1])
            import zlib
            eq(d, {'crc': zlib.crc32(b'c' * 4096), 'd': '0.125'}, 'computed by the modules')
            print('ok')
            ",
        );
        assert!(out.contains("ok"));
        println!("[{v}] {:?}", dir.record());
    });
}

#[test]
fn export_name_not_utf8_from_the_client() {
    // libnbd's Python binding refuses such names (UnicodeEncodeError for a
    // str with surrogates, TypeError for bytes), but its C API sends any
    // bytes: this client calls it through ctypes.
    let client = r#"
import ctypes
lib = ctypes.CDLL("libnbd.so.0")
lib.nbd_create.restype = ctypes.c_void_p
lib.nbd_get_error.restype = ctypes.c_char_p
def raw(name):
    h = ctypes.c_void_p(lib.nbd_create())
    assert lib.nbd_set_export_name(h, ctypes.c_char_p(name)) == 0, lib.nbd_get_error()
    if lib.nbd_connect_unix(h, ctypes.c_char_p(SOCK.encode())) != 0:
        err = lib.nbd_get_error()
        lib.nbd_close(h)
        return 'refused: %s' % err
    buf = ctypes.create_string_buffer(512)
    r = lib.nbd_pread(h, buf, ctypes.c_size_t(512), ctypes.c_uint64(0), ctypes.c_uint32(0))
    lib.nbd_close(h)
    return 'read %d %r' % (r, buf.raw[:4])
print(raw(b'\xff\xfe-raw'))
h = nbd.NBD()
h.connect_unix(SOCK)
assert h.pread(512, 0) == bytes(512)
print('good connection ok')
"#;
    let script = "
        API_VERSION = 2
        def open(readonly):
            try:
                name = nbdkit.export_name()
            except ValueError as e:
                record('open', type(e).__name__)
                if os.environ.get('STRICT'):
                    raise
                name = None
            return name
        def get_size(h):
            return 1024 * 1024
        def pread(h, buf, offset, flags):
            buf[:] = b'?' * len(buf) if h is None else bytes(len(buf))
        ";
    for_each_variant(|v| {
        // A script that lets the exception out: the connection is refused.
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[script]).env("STRICT", "1").start();
        let out = py_client(&dir, &srv.sock, client).ok().stdout;
        assert!(out.contains("refused") && out.contains("good connection ok"), "[{v}] {out}");
        // (Server::log() reads the log as UTF-8, and nbdkit logs the raw name.)
        let log = String::from_utf8_lossy(&fs::read(dir.join("nbdkit.log")).unwrap_or_default()).into_owned();
        let want = if v.is_reference() { "UnicodeDecodeError" } else { "ValueError: the export name sent by the client is not valid UTF-8" };
        for n in ["plugin.py: open: error:", want] {
            assert!(log.contains(n), "[{v}] log lacks {n:?}:\n{}", tail(&log, 30));
        }
        // A script that catches ValueError (UnicodeDecodeError is one) serves.
        let dir = Dir::new();
        let srv = Nbdkit::new(v, &dir, &[script]).start();
        let out = py_client(&dir, &srv.sock, client).ok().stdout;
        assert!(out.contains("read 0 b'????'") && out.contains("good connection ok"), "[{v}] {out}");
        let rec = dir.record();
        assert!(rec.iter().any(|l| l.starts_with("open ") && l.ends_with("Error")), "[{v}] {rec:?}");
    });
}

/// Memory exhaustion inside a callback and at load time. Each in its own
/// nbdkit, since a crash would take the server down.
#[test]
fn memory_exhaustion() {
    for_each_variant(|v| {
        let mut report = Report::default();
        // BUG: RustPython aborts the whole nbdkit ("memory allocation of N
        // bytes failed", SIGABRT) instead of raising MemoryError.
        let bug = (implementation(v) == Imp::RustPython).then_some("RustPython aborts nbdkit on an allocation failure instead of raising MemoryError");
        for (alloc, bug) in [("bytearray(1 << 60)", bug), ("b'x' * (1 << 62)", None), ("[0] * (1 << 60)", None)] {
            let dir = Dir::new();
            let mut srv = Nbdkit::new(
                v,
                &dir,
                &[V2_DISK, &format!("
                def pread(h, buf, offset, flags):
                    if offset == 0:
                        x = {alloc}
                    buf[:] = bytes(len(buf))
                ")],
            )
            .start();
            let run = srv.py_run("
                h = connect()
                fails_with('EIO', h.pread, 512, 0)
                eq(h.pread(512, 512), bytes(512), 'next request')
                eq(connect().pread(512, 512), bytes(512), 'new connection')
            ");
            let mut problems = Vec::new();
            if !run.success() {
                problems.push(format!("client: {}", tail(&run.stderr, 3)));
            }
            if !srv.log().contains("MemoryError") {
                problems.push("log lacks MemoryError".into());
            }
            if !srv.is_running() {
                problems.push(format!("nbdkit died: {}", tail(&srv.log(), 3).lines().next().unwrap_or("")));
            }
            report.check(v, &format!("pread: {alloc}"), problems, bug);
        }
        let dir = Dir::new();
        let run = Nbdkit::new(v, &dir, &["x = bytearray(1 << 60)\n", V2_DISK]).run(RUN_TIMEOUT);
        let mut problems = Vec::new();
        if run.status.code() != Some(1) {
            problems.push(format!("exit status {}, wanted 1", run.status));
        }
        if !run.stderr.contains("MemoryError") {
            problems.push("no MemoryError in the log".into());
        }
        report.check(v, "load: bytearray(1 << 60)", problems, bug);
        report.finish("");
    });
}

// ---------------------------------------------------------------------------
// 2. Panic safety: the inject-panic build (ours only)

/// The inject-panic build of the CPython variant, built if need be:
/// `cargo build --release -p plugin-python --features inject-panic
/// --target-dir target/inject-panic`, copied to
/// `target/plugin/cpython-inject-panic/nbdkit-python-plugin.so`. Cargo
/// rebuilds only what changed, so it is always up to date.
fn inject_panic_plugin() -> PathBuf {
    static BUILT: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let root = workspace_root();
        let target = root.join("target");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--release", "-p", "plugin-python", "--features", "inject-panic", "--target-dir"])
            .arg(target.join("inject-panic"))
            .current_dir(&root);
        let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() {
            return Err(format!("cargo build of the inject-panic plugin failed: {status}"));
        }
        let built = target.join("inject-panic/release/libnbdkit_python_plugin.so");
        let dest = target.join("plugin/cpython-inject-panic").join(PLUGIN_FILE);
        fs::create_dir_all(dest.parent().expect("has a parent")).map_err(|e| e.to_string())?;
        fs::copy(&built, &dest).map_err(|e| format!("copy {}: {e}", built.display()))?;
        Ok(dest)
    });
    match built {
        Ok(p) => p.clone(),
        Err(e) => panic!("{e}"),
    }
}

/// A well-behaved script that defines every callback, so nbdkit calls
/// each of them somewhere.
const EVERY_CALLBACK: &str = r#"
API_VERSION = 2
DISK = bytearray(1024 * 1024)
def load(): pass
def unload(): pass
def dump_plugin(): print('every_callback=1')
def config(key, value): pass
def config_complete(): pass
def thread_model(): return nbdkit.THREAD_MODEL_PARALLEL
def get_ready(): pass
def after_fork(): pass
def cleanup(): pass
def list_exports(readonly, is_tls): return ['', 'x']
def default_export(readonly, is_tls): return ''
def preconnect(readonly): pass
def open(readonly): return {}
def close(h): pass
def export_description(h): return 'every callback'
def get_size(h): return len(DISK)
def block_size(h): return (1, 4096, 1024 * 1024)
def can_write(h): return True
def can_flush(h): return True
def is_rotational(h): return False
def can_trim(h): return True
def can_zero(h): return True
def can_fast_zero(h): return True
def can_extents(h): return True
def can_fua(h): return nbdkit.FUA_NATIVE
def can_multi_conn(h): return True
def can_cache(h): return nbdkit.CACHE_NATIVE
def pread(h, buf, offset, flags): buf[:] = DISK[offset:offset + len(buf)]
def pwrite(h, buf, offset, flags): DISK[offset:offset + len(buf)] = buf
def flush(h, flags): pass
def trim(h, count, offset, flags): pass
def zero(h, count, offset, flags): DISK[offset:offset + count] = bytearray(count)
def cache(h, count, offset, flags): pass
def extents(h, count, offset, flags): return [(offset, count, 0)]
"#;

/// How a callback is driven, and what must happen.
enum Drive {
    /// nbdkit refuses to start: exit 1.
    StartFails,
    /// `--dump-plugin` exits 0.
    DumpPlugin,
    /// nbdkit serves; this client code (after the harness prelude, plus
    /// `must_fail`) must succeed; nbdkit then exits 0 on SIGTERM.
    Serve(&'static str),
}

const MUST_FAIL: &str = "
def must_fail(fn, *args):
    try:
        fn(*args)
    except nbd.Error as e:
        return e
    raise AssertionError('%s%r succeeded' % (fn.__name__, args))
";

const REFUSED_TWICE: &str = "
for i in range(2):
    must_fail(connect, '', True, True)
";

fn panic_cases() -> Vec<(&'static str, Drive)> {
    use Drive::*;
    let data = |name: &'static str, call: &'static str, then: &'static str| -> (&'static str, Drive) {
        let code = Box::leak(
            format!(
                "h = connect()\ne = must_fail({call})\neq(e.errno, 'EIO', 'errno')\n{then}\nh2 = connect()\n{}\n",
                then.replace("h.", "h2.")
            )
            .into_boxed_str(),
        );
        (name, Serve(code))
    };
    let read = "eq(h.pread(512, 0), bytes(512), 'next request')";
    let write = "h.pwrite(bytes(512), 0)";
    vec![
        ("load", Serve("eq(connect().pread(512, 0), bytes(512), 'read')")),
        ("unload", Serve("eq(connect().pread(512, 0), bytes(512), 'read')")),
        ("dump_plugin", DumpPlugin),
        ("config", StartFails),
        ("config_complete", StartFails),
        ("thread_model", StartFails),
        ("get_ready", StartFails),
        ("after_fork", StartFails),
        ("cleanup", Serve("eq(connect().pread(512, 0), bytes(512), 'read')")),
        ("list_exports", Serve("
h = nbd.NBD()
h.set_opt_mode(True)
h.connect_unix(SOCK)
must_fail(h.opt_list, lambda *a: 0)
h.opt_abort()
eq(connect().pread(512, 0), bytes(512), 'new connection')
")),
        ("default_export", Serve("must_fail(connect, '')\neq(connect('x').pread(512, 0), bytes(512), 'named export')")),
        ("preconnect", Serve(REFUSED_TWICE)),
        ("open", Serve(REFUSED_TWICE)),
        ("close", Serve("
for i in range(3):
    h = connect()
    eq(h.pread(512, 0), bytes(512), 'read')
    h.shutdown()
")),
        ("export_description", Serve("
h = connect('', full_info=True)
must_fail(h.get_export_description)
eq(h.pread(512, 0), bytes(512), 'read')
")),
        ("get_size", Serve(REFUSED_TWICE)),
        ("block_size", Serve(REFUSED_TWICE)),
        ("can_write", Serve(REFUSED_TWICE)),
        ("can_flush", Serve(REFUSED_TWICE)),
        ("is_rotational", Serve(REFUSED_TWICE)),
        ("can_trim", Serve(REFUSED_TWICE)),
        ("can_zero", Serve(REFUSED_TWICE)),
        ("can_fast_zero", Serve(REFUSED_TWICE)),
        ("can_extents", Serve(REFUSED_TWICE)),
        ("can_fua", Serve(REFUSED_TWICE)),
        ("can_multi_conn", Serve(REFUSED_TWICE)),
        ("can_cache", Serve(REFUSED_TWICE)),
        data("pread", "h.pread, 512, 0", write),
        data("pwrite", "h.pwrite, bytes(512), 0", read),
        data("flush", "h.flush", read),
        data("trim", "h.trim, 512, 0", read),
        data("zero", "h.zero, 512, 0", read),
        data("cache", "h.cache, 512, 0", read),
        data("extents", "h.block_status, 512, 0, lambda *a: 0", read),
    ]
}

#[test]
fn panic_in_every_callback_becomes_an_error() {
    let cases = panic_cases();
    assert_eq!(cases.len(), 34, "one case per extern \"C\" callback");
    println!("ours only: the reference has no inject-panic build");
    let variant = Variant::extra("cpython-inject-panic", inject_panic_plugin());
    let mut report = Report::default();
    for (cb, drive) in &cases {
        let dir = Dir::new();
        let nb = Nbdkit::new(&variant, &dir, &[EVERY_CALLBACK])
            .arg("key=value")
            .env("NBDKIT_PLUGIN_INJECT_PANIC", cb)
            .env("RUST_BACKTRACE", "0");
        let want = format!("{cb}: internal error in the plugin (a Rust panic): injected panic in {cb}");
        let mut problems = Vec::new();
        let log = match drive {
            Drive::StartFails => {
                let run = nb.run(RUN_TIMEOUT);
                if run.status.code() != Some(1) {
                    problems.push(format!("exit status {}, wanted 1", run.status));
                }
                run.stderr
            }
            Drive::DumpPlugin => {
                let run = nb.dump_plugin();
                if !run.success() {
                    problems.push(format!("exit status {}, wanted 0", run.status));
                }
                // nbdkit's own lines still come out; ours (python_*) do not.
                if !run.stdout.contains("name=python") {
                    problems.push("--dump-plugin printed nothing".into());
                }
                run.stderr
            }
            Drive::Serve(code) => {
                let mut srv = nb.start();
                let client = srv.py_run(&format!("{MUST_FAIL}\n{code}"));
                if !client.success() {
                    problems.push(format!("client failed: {}", tail(&client.stderr, 4)));
                }
                if !srv.is_running() {
                    problems.push("nbdkit died".into());
                }
                let (status, log) = srv.stop();
                if !status.success() {
                    problems.push(format!("exit status {status} after SIGTERM, wanted 0"));
                }
                log
            }
        };
        if !log.contains(&want) {
            problems.push(format!("log lacks {want:?}"));
        }
        if log.contains("aborting") {
            problems.push("the log says the plugin aborted".into());
        }
        if !problems.is_empty() {
            problems.push(format!("log tail:\n{}", tail(&log, 15)));
        }
        report.check(&variant, cb, problems, None);
    }
    // Every callback at once: load's panic is logged, config's stops nbdkit.
    let dir = Dir::new();
    let run = Nbdkit::new(&variant, &dir, &[EVERY_CALLBACK]).env("NBDKIT_PLUGIN_INJECT_PANIC", "*").run(RUN_TIMEOUT);
    let mut problems = Vec::new();
    if run.status.code() != Some(1) {
        problems.push(format!("exit status {}, wanted 1", run.status));
    }
    for cb in ["load", "config"] {
        let want = format!("{cb}: internal error in the plugin (a Rust panic)");
        if !run.stderr.contains(&want) {
            problems.push(format!("log lacks {want:?}"));
        }
    }
    report.check(&variant, "*", problems, None);
    report.finish("");
}


// ---------------------------------------------------------------------------
// 3. Data integrity (the full sizes run in reliability_soak.rs)

#[test]
fn integrity_fio_crc32c_four_jobs() {
    for_each_variant(|v| integrity_fio(v, 64 * MIB, 1));
}

#[test]
fn integrity_qemu_img_and_nbdcopy_round_trip() {
    for_each_variant(|v| integrity_copy(v, 64 * MIB));
}

// ---------------------------------------------------------------------------
// 4. Resources (a million requests and ten thousand connections in
// reliability_soak.rs)

/// RSS may grow this much over the run (allocator noise, caches warming).
const RSS_BOUND_KIB: i64 = 8 * 1024;

#[test]
fn resources_flat_over_requests() {
    for_each_variant(|v| {
        resources_over_requests(v, 20_000, 100_000, RSS_BOUND_KIB);
    });
}

#[test]
fn resources_flat_over_connections() {
    for_each_variant(|v| {
        resources_over_connections(v, 100, 500, RSS_BOUND_KIB);
    });
}

// ---------------------------------------------------------------------------
// 5. Signals

#[test]
fn sigterm_during_requests_exits_cleanly() {
    for_each_variant(|v| signal_during_requests(v, libc_sig::SIGTERM));
}

#[test]
fn sigint_during_requests_exits_cleanly() {
    for_each_variant(|v| signal_during_requests(v, libc_sig::SIGINT));
}

// ---------------------------------------------------------------------------
// 6a. valgrind (a longer run in reliability_soak.rs)

#[test]
fn valgrind_memcheck_finds_nothing_in_our_code() {
    println!("ours, CPython only: memcheck of the RustPython build is not supported here");
    for_each_variant_differing_from_reference("valgrind checks our code only", |v| {
        if implementation(v) == Imp::CPython {
            valgrind_memcheck(v, 1);
        }
    });
}
