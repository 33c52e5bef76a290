//! Fuzzing plugin-python's result conversions (`nbdkit_python_plugin::convert`)
//! without an interpreter.
//!
//! The conversions are generic over [`Attached`], the primitives a backend
//! offers. [`Fake`] implements those primitives over [`V`], a small model
//! of Python values that behaves as CPython does for each primitive
//! (`bool` is an `int`, `str` iterates as one-character strings, `bytes`
//! as ints, `bytearray` offers a buffer but is not `bytes`, ...).
//!
//! [`check`] decodes one input into a conversion and a value, runs the
//! conversion, and compares the outcome with an independent model of the
//! contract ([`expect`]): the same success or failure, the same output,
//! and the plugin's invariants (extents never empty, block sizes fit
//! `u32`, `pread` v1 fills exactly the buffer it was given). Any
//! difference, and any panic, is a finding.
//!
//! Two drivers call [`check`]: `fuzz_targets/convert.rs` under libFuzzer
//! (`cargo fuzz run convert --features libfuzzer`), and the deterministic
//! `convert-driver` binary (a fixed pseudo-random sequence of inputs, what
//! `cargo xtask test` runs).

use nbdkit_plugin::backend::{Attached, Convert, ScriptError};
use nbdkit_plugin::test_stubs;
use nbdkit_python_plugin::convert::{BlockSize, CopyInto, Exports, Extents, Flag, Int, Text};

/// A Python value, as far as the conversions can tell values apart.
#[derive(Debug, Clone, PartialEq)]
pub enum V {
    None,
    Bool(bool),
    /// An `int` (Python ints are unbounded; `i128` reaches well past
    /// 2^63 and 2^64 both ways).
    Int(i128),
    /// An `int` beyond `i128`: `2**200` or `-2**200`.
    Big(bool),
    Float(f64),
    Str(String),
    /// A `str` holding a lone surrogate: text that cannot be UTF-8.
    StrUnencodable,
    Bytes(Vec<u8>),
    /// A `bytearray`: a buffer, iterable as ints, but not `bytes`.
    ByteArray(Vec<u8>),
    Tuple(Vec<V>),
    List(Vec<V>),
    /// A generator that yields these items, then raises.
    RaisingIter(Vec<V>),
    /// `object()`: true, not iterable, not a number, no buffer.
    Opaque,
    /// An object whose `__bool__` raises.
    RaisesOnBool,
}

fn exception(kind: &str, message: &str) -> ScriptError {
    ScriptError::Exception {
        traceback: format!("Traceback (most recent call last):\n{kind}: {message}\n"),
        kind: kind.into(),
        message: message.into(),
    }
}

/// The fake interpreter: every primitive of [`Attached`] over [`V`].
pub struct Fake;

impl Fake {
    fn int(&self, v: &V) -> Result<Option<i128>, ScriptError> {
        match v {
            V::Bool(b) => Ok(Some(i128::from(*b))),
            V::Int(i) => Ok(Some(*i)),
            V::Big(_) => Ok(None),
            _ => Err(exception("TypeError", "object cannot be interpreted as an integer")),
        }
    }
}

impl Attached for Fake {
    type Value = V;
    type Object = V;

    fn is_none(&self, v: &V) -> bool {
        matches!(v, V::None)
    }

    fn is_true_singleton(&self, v: &V) -> bool {
        matches!(v, V::Bool(true))
    }

    fn truth(&self, v: &V) -> Result<bool, ScriptError> {
        truth(v).ok_or_else(|| exception("RuntimeError", "__bool__ raised"))
    }

    fn to_i64(&self, v: &V) -> Result<i64, ScriptError> {
        self.int(v)?
            .and_then(|i| i64::try_from(i).ok())
            .ok_or_else(|| exception("OverflowError", "int too big to convert"))
    }

    fn to_u64(&self, v: &V) -> Result<u64, ScriptError> {
        self.int(v)?
            .and_then(|i| u64::try_from(i).ok())
            .ok_or_else(|| exception("OverflowError", "int out of range for unsigned"))
    }

    fn to_text_bytes(&self, v: &V) -> Option<Vec<u8>> {
        text(v)
    }

    fn tuple_items(&self, v: &V) -> Option<Vec<V>> {
        match v {
            V::Tuple(items) => Some(items.clone()),
            _ => None,
        }
    }

    fn for_each(&self, v: &V, f: &mut dyn FnMut(&Self, V) -> Result<(), ScriptError>) -> Result<bool, ScriptError> {
        let Some((items, raises)) = iterate(v) else { return Ok(false) };
        for item in items {
            f(self, item)?;
        }
        if raises {
            return Err(exception("ValueError", "generator raised"));
        }
        Ok(true)
    }

    fn copy_bytes(&self, v: &V, dst: &mut [u8]) -> Result<Option<usize>, ScriptError> {
        let (V::Bytes(b) | V::ByteArray(b)) = v else { return Ok(None) };
        let n = b.len().min(dst.len());
        dst[..n].copy_from_slice(&b[..n]);
        Ok(Some(b.len()))
    }

    fn keep(&self, v: V) -> V {
        v
    }
}

/// `bool(v)`; `None` if it raises.
fn truth(v: &V) -> Option<bool> {
    Some(match v {
        V::None => false,
        V::Bool(b) => *b,
        V::Int(i) => *i != 0,
        V::Big(_) => true,
        V::Float(f) => *f != 0.0,
        V::Str(s) => !s.is_empty(),
        V::StrUnencodable => true,
        V::Bytes(b) | V::ByteArray(b) => !b.is_empty(),
        V::Tuple(t) | V::List(t) => !t.is_empty(),
        V::RaisingIter(_) | V::Opaque => true,
        V::RaisesOnBool => return None,
    })
}

/// What CPython's `str`/`bytes` check in the backend accepts.
fn text(v: &V) -> Option<Vec<u8>> {
    match v {
        V::Str(s) => Some(s.as_bytes().to_vec()),
        V::Bytes(b) => Some(b.clone()),
        _ => None,
    }
}

/// The items `iter(v)` yields, and whether it raises after them; `None`
/// if `v` is not iterable.
fn iterate(v: &V) -> Option<(Vec<V>, bool)> {
    Some(match v {
        V::Tuple(t) | V::List(t) => (t.clone(), false),
        V::Str(s) => (s.chars().map(|c| V::Str(c.to_string())).collect(), false),
        V::StrUnencodable => (vec![V::StrUnencodable], false),
        V::Bytes(b) | V::ByteArray(b) => (b.iter().map(|&x| V::Int(x.into())).collect(), false),
        V::RaisingIter(items) => (items.clone(), true),
        _ => return None,
    })
}

fn int(v: &V) -> Option<i128> {
    match v {
        V::Bool(b) => Some(i128::from(*b)),
        V::Int(i) => Some(*i),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// The contract, modelled independently of convert.rs

/// Which conversion an input drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Int,
    Flag,
    Text,
    BlockSize,
    Extents,
    Exports,
    /// `pread` v1 with a buffer of this many bytes.
    CopyInto(usize),
}

/// The outcome of a conversion, in a form both sides can produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    Int(i64),
    Flag(bool),
    Text(Vec<u8>),
    BlockSize(u32, u32, u32),
    Extents(Vec<(u64, u64, u32)>),
    Exports(Vec<(Vec<u8>, Option<Vec<u8>>)>),
    /// The bytes `pread` v1 left in the buffer.
    Filled(Vec<u8>),
}

/// What the conversion must produce for `v`: `None` means it must fail.
pub fn expect(which: Which, v: &V) -> Option<Out> {
    let u64_of = |v: &V| int(v).and_then(|i| u64::try_from(i).ok());
    let u32_of = |v: &V| int(v).and_then(|i| u32::try_from(i).ok());
    match which {
        Which::Int => int(v).and_then(|i| i64::try_from(i).ok()).map(Out::Int),
        Which::Flag => truth(v).map(Out::Flag),
        Which::Text => text(v).map(Out::Text),
        Which::BlockSize => match v {
            V::Tuple(t) if t.len() == 3 => Some(Out::BlockSize(u32_of(&t[0])?, u32_of(&t[1])?, u32_of(&t[2])?)),
            _ => None,
        },
        Which::Extents => {
            let (items, raises) = iterate(v)?;
            let mut out = Vec::new();
            for item in &items {
                match item {
                    V::Tuple(t) if t.len() == 3 => out.push((u64_of(&t[0])?, u64_of(&t[1])?, u32_of(&t[2])?)),
                    _ => return None,
                }
            }
            (!raises && !out.is_empty()).then_some(Out::Extents(out))
        }
        Which::Exports => {
            let (items, raises) = iterate(v)?;
            let mut out = Vec::new();
            for item in &items {
                if let Some(name) = text(item) {
                    out.push((name, None));
                    continue;
                }
                match item {
                    V::Tuple(t) if t.len() == 2 => out.push((text(&t[0])?, Some(text(&t[1])?))),
                    _ => return None,
                }
            }
            (!raises).then_some(Out::Exports(out))
        }
        Which::CopyInto(n) => match v {
            V::Bytes(b) | V::ByteArray(b) if b.len() >= n => Some(Out::Filled(b[..n].to_vec())),
            _ => None,
        },
    }
}

/// Run the real conversion on `v`.
pub fn convert(which: Which, v: V) -> Result<Out, ScriptError> {
    let cx = &Fake;
    match which {
        Which::Int => Int.convert(cx, v).map(Out::Int),
        Which::Flag => Flag("can_write").convert(cx, v).map(Out::Flag),
        Which::Text => Text("default_export").convert(cx, v).map(Out::Text),
        Which::BlockSize => BlockSize.convert(cx, v).map(|(a, b, c)| Out::BlockSize(a, b, c)),
        Which::Extents => Extents.convert(cx, v).map(Out::Extents),
        Which::Exports => Exports.convert(cx, v).map(Out::Exports),
        Which::CopyInto(n) => {
            // Guard bytes on both sides: the conversion gets exactly the
            // middle, and must not touch the rest.
            const GUARD: usize = 16;
            let mut buf = vec![0xA5u8; n + 2 * GUARD];
            let r = CopyInto(&mut buf[GUARD..GUARD + n]).convert(cx, v);
            assert!(
                buf[..GUARD].iter().chain(&buf[GUARD + n..]).all(|&b| b == 0xA5),
                "CopyInto wrote outside the buffer it was given"
            );
            r.map(|()| Out::Filled(buf[GUARD..GUARD + n].to_vec()))
        }
    }
}

/// One fuzz case: decode `data`, convert, compare with [`expect`].
/// Panics on any difference (and lets any panic of the code under test
/// through). Returns the conversion driven and whether it succeeded.
pub fn check(data: &[u8]) -> (Which, bool) {
    let mut input = Input::new(data);
    let which = input.which();
    let value = input.value_for(which);
    (which, check_value(which, value))
}

/// [`check`] for an already built value; whether the conversion succeeded.
pub fn check_value(which: Which, value: V) -> bool {
    test_stubs::reset();
    let want = expect(which, &value);
    let got = convert(which, value.clone());
    let seen = test_stubs::take();
    match (&want, &got) {
        (Some(w), Ok(g)) => assert_eq!(w, g, "{which:?} of {value:?}: wrong output"),
        (None, Err(e)) => {
            assert!(!e.render().is_empty(), "{which:?} of {value:?}: an error without a message");
        }
        _ => panic!("{which:?} of {value:?}: expected {want:?}, got {got:?}"),
    }
    // The invariants nbdkit relies on, stated on their own.
    match &got {
        Ok(Out::Extents(e)) => assert!(!e.is_empty(), "extents: an empty list passed"),
        Ok(Out::Filled(b)) => {
            let Which::CopyInto(n) = which else { unreachable!() };
            assert_eq!(b.len(), n);
        }
        _ => {}
    }
    // Flag notes, once, when Python truth differs from `is True`.
    if let (Which::Flag, Ok(Out::Flag(t))) = (which, &got) {
        let differs = *t != matches!(value, V::Bool(true));
        assert_eq!(seen.debug.len(), usize::from(differs), "Flag debug lines for {value:?}: {:?}", seen.debug);
    }
    assert!(seen.errors.is_empty(), "a conversion logged errors itself: {:?}", seen.errors);
    got.is_ok()
}

// ---------------------------------------------------------------------------
// Decoding fuzz input into a case

/// Reads a case out of arbitrary bytes; reads past the end give zeros, so
/// every input decodes.
pub struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

const MAX_DEPTH: u32 = 4;
const MAX_ITEMS: u8 = 8;

/// Characters strings are made of: NUL, ASCII, and multi-byte UTF-8.
const CHARS: [char; 12] = ['\0', 'a', 'b', 'z', '/', ' ', '-', 'é', '€', '𝄞', '\u{7f}', '\n'];

impl Which {
    /// Short name, for the driver's tally.
    pub fn name(self) -> &'static str {
        match self {
            Which::Int => "Int",
            Which::Flag => "Flag",
            Which::Text => "Text",
            Which::BlockSize => "BlockSize",
            Which::Extents => "Extents",
            Which::Exports => "Exports",
            Which::CopyInto(_) => "CopyInto",
        }
    }
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Input { data, pos: 0 }
    }

    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    /// A fair choice from the next byte.
    fn coin(&mut self) -> bool {
        self.byte() & 1 == 0
    }

    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        std::array::from_fn(|_| self.byte())
    }

    pub fn which(&mut self) -> Which {
        match self.byte() % 7 {
            0 => Which::Int,
            1 => Which::Flag,
            2 => Which::Text,
            3 => Which::BlockSize,
            4 => Which::Extents,
            5 => Which::Exports,
            _ => {
                // Mostly small buffers, sometimes up to 64 KiB.
                let n = u16::from_le_bytes(self.bytes());
                Which::CopyInto(if n & 0x8000 != 0 { usize::from(n & 0x7fff) * 2 } else { usize::from(n % 64) })
            }
        }
    }

    /// Mostly in range for every conversion, sometimes at a boundary.
    fn small_int(&mut self) -> i128 {
        match self.byte() % 16 {
            0 => -i128::from(self.byte()),
            1 => i128::from(u32::MAX) + i128::from(self.byte() % 3) - 1,
            2 => i128::from(i64::MAX) + i128::from(self.byte() % 3) - 1,
            3 => i128::from(u64::MAX) + i128::from(self.byte() % 3) - 1,
            4 => i128::from(i64::MIN) + i128::from(self.byte() % 3) - 1,
            _ => i128::from(u16::from_le_bytes(self.bytes())),
        }
    }

    fn string(&mut self) -> String {
        let n = self.byte() % 12;
        (0..n).map(|_| CHARS[usize::from(self.byte()) % CHARS.len()]).collect()
    }

    fn raw(&mut self) -> Vec<u8> {
        let n = match self.byte() {
            b @ 0..=239 => usize::from(b % 48),
            b => usize::from(b - 239) * 4096,
        };
        let fill = self.byte();
        (0..n).map(|i| fill.wrapping_add(i as u8)).collect()
    }

    fn items(&mut self, depth: u32) -> Vec<V> {
        let n = self.byte() % MAX_ITEMS;
        // Half the time every item has the same shape, so that lists of
        // valid tuples (the interesting successes) come up often.
        let shape = self.coin().then(|| self.byte());
        let mut items = Vec::with_capacity(usize::from(n));
        for _ in 0..n {
            let tag = match shape {
                Some(tag) => tag,
                None => self.byte(),
            };
            items.push(self.value_tagged(tag, depth + 1));
        }
        items
    }

    /// Half the time a value of the shape `which` accepts (each part
    /// still fuzzed, so it may be out of range), else any value.
    pub fn value_for(&mut self, which: Which) -> V {
        if !self.coin() {
            return self.value(0);
        }
        match which {
            Which::BlockSize => self.value_tagged(16, 1),
            Which::Extents => {
                let n = self.byte() % MAX_ITEMS;
                let generator = self.byte() & 3 == 0;
                let items: Vec<V> = (0..n).map(|_| self.value_tagged(16, 1)).collect();
                if generator { V::RaisingIter(items) } else { V::List(items) }
            }
            Which::Exports => {
                let n = self.byte() % MAX_ITEMS;
                let mut items = Vec::new();
                for _ in 0..n {
                    items.push(if self.coin() { V::Str(self.string()) } else { self.value_tagged(18, 1) });
                }
                V::List(items)
            }
            Which::CopyInto(n) => {
                let len = (n + usize::from(self.byte() % 4)).saturating_sub(1);
                let fill = self.byte();
                let b = (0..len).map(|i| fill.wrapping_add(i as u8)).collect();
                if self.coin() { V::Bytes(b) } else { V::ByteArray(b) }
            }
            _ => self.value(0),
        }
    }

    pub fn value(&mut self, depth: u32) -> V {
        let tag = self.byte();
        self.value_tagged(tag, depth)
    }

    fn value_tagged(&mut self, tag: u8, depth: u32) -> V {
        let nested = depth < MAX_DEPTH;
        match tag % 20 {
            0 => V::None,
            1 => V::Bool(self.byte() & 1 == 1),
            2 | 3 => V::Int(self.small_int()),
            4 => V::Int(i128::from_le_bytes(self.bytes())),
            5 => V::Big(self.byte() & 1 == 1),
            6 => V::Float(f64::from_le_bytes(self.bytes())),
            7 => V::Str(self.string()),
            8 => V::StrUnencodable,
            9 => V::Bytes(self.raw()),
            10 => V::ByteArray(self.raw()),
            11 if nested => V::Tuple(self.items(depth)),
            12 if nested => V::List(self.items(depth)),
            13 if nested => V::RaisingIter(self.items(depth)),
            14 => V::Opaque,
            15 => V::RaisesOnBool,
            // Shapes that conversions accept, so successes are common.
            16 | 17 => V::Tuple((0..3).map(|_| V::Int(self.small_int())).collect()),
            18 => V::Tuple(vec![V::Str(self.string()), V::Str(self.string())]),
            19 if nested => V::List(self.items(depth)),
            _ => V::None,
        }
    }
}

/// A small, fixed pseudo-random generator (SplitMix64) for the driver.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A fuzz input of 0..=255 bytes.
    pub fn input(&mut self, buf: &mut Vec<u8>) {
        buf.clear();
        let n = (self.next_u64() % 256) as usize;
        while buf.len() < n {
            buf.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        buf.truncate(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_picked_cases() {
        let t3 = |a: i128, b: i128, c: i128| V::Tuple(vec![V::Int(a), V::Int(b), V::Int(c)]);
        let cases = [
            (Which::Int, V::Int(1 << 63)),
            (Which::Int, V::Int(-1)),
            (Which::Int, V::Str("5".into())),
            (Which::Int, V::Float(5.0)),
            (Which::Int, V::Bool(true)),
            (Which::Flag, V::Int(1)),
            (Which::Flag, V::RaisesOnBool),
            (Which::Text, V::StrUnencodable),
            (Which::Text, V::ByteArray(b"x".to_vec())),
            (Which::BlockSize, t3(512, 4096, 1 << 32)),
            (Which::BlockSize, t3(-1, 0, 0)),
            (Which::BlockSize, V::List(vec![V::Int(1), V::Int(1), V::Int(1)])),
            (Which::Extents, V::List(vec![])),
            (Which::Extents, V::List(vec![t3(0, 512, 0), t3(512, 512, 3)])),
            (Which::Extents, V::List(vec![t3(0, 512, 1 << 32)])),
            (Which::Extents, V::RaisingIter(vec![t3(0, 512, 0)])),
            (Which::Extents, V::Opaque),
            (Which::Exports, V::Str("ab".into())),
            (Which::Exports, V::List(vec![V::Str("a\0b".into()), V::Tuple(vec![V::Str("c".into()), V::None])])),
            (Which::Exports, V::Bytes(vec![1, 2])),
            (Which::CopyInto(4), V::Bytes(b"abc".to_vec())),
            (Which::CopyInto(4), V::ByteArray(b"abcdef".to_vec())),
            (Which::CopyInto(0), V::Bytes(vec![])),
            (Which::CopyInto(4), V::Str("abcd".into())),
        ];
        for (which, v) in cases {
            check_value(which, v);
        }
    }

    #[test]
    fn short_deterministic_run() {
        let mut rng = SplitMix64(1);
        let mut buf = Vec::new();
        for _ in 0..20_000 {
            rng.input(&mut buf);
            check(&buf);
        }
    }
}
