//! What the script's results mean: each conversion is written once here,
//! on the backend's primitives, so every interpreter reads results the
//! same way.

use nbdkit_plugin::backend::{Attached, Convert, ScriptError};

/// An `int` that fits `i64` (sizes, thread models, FUA/cache levels).
pub struct Int;

impl Convert for Int {
    type Output = i64;
    fn convert<A: Attached>(self, cx: &A, v: A::Value) -> Result<i64, ScriptError> {
        cx.to_i64(&v)
    }
}

/// A boolean answer (`can_write`, `is_rotational`, ...), read with
/// Python's truth rules. nbdkit's own plugin counts only `True` as true;
/// when the two readings differ, a debug line says so.
pub struct Flag(pub &'static str);

impl Convert for Flag {
    type Output = bool;
    fn convert<A: Attached>(self, cx: &A, v: A::Value) -> Result<bool, ScriptError> {
        let truth = cx.truth(&v)?;
        if truth != cx.is_true_singleton(&v) {
            nbdkit_plugin::log::debug(&format!(
                "{}: returned a value that is {} but not the bool {}; nbdkit's own Python plugin would read it as false",
                self.0,
                if truth { "true" } else { "false" },
                if truth { "True" } else { "False" },
            ));
        }
        Ok(truth)
    }
}

/// A `str` (or `bytes`) result, as bytes; `what` names the callback in
/// the error when it is neither.
pub struct Text(pub &'static str);

impl Convert for Text {
    type Output = Vec<u8>;
    fn convert<A: Attached>(self, cx: &A, v: A::Value) -> Result<Vec<u8>, ScriptError> {
        cx.to_text_bytes(&v)
            .ok_or_else(|| {
                ScriptError::Invalid(format!("{} method did not return a string (str encodable as UTF-8, or bytes)", self.0))
            })
    }
}

/// `block_size`: a tuple `(minimum, preferred, maximum)` of `u32`s.
pub struct BlockSize;

impl Convert for BlockSize {
    type Output = (u32, u32, u32);
    fn convert<A: Attached>(self, cx: &A, v: A::Value) -> Result<(u32, u32, u32), ScriptError> {
        let bad = || ScriptError::Invalid("block_size method did not return a tuple of three unsigned 32-bit integers".into());
        let items = cx.tuple_items(&v).filter(|t| t.len() == 3).ok_or_else(bad)?;
        let mut out = [0u32; 3];
        for (slot, item) in out.iter_mut().zip(&items) {
            *slot = u32::try_from(cx.to_u64(item)?).map_err(|_| bad())?;
        }
        Ok((out[0], out[1], out[2]))
    }
}

/// The rules nbdkit applies to `block_size` results (all zero means "no
/// constraint"); `Err` says which one is broken.
pub fn check_block_size((min, pref, max): (u32, u32, u32)) -> Result<(), String> {
    if (min, pref, max) == (0, 0, 0) {
        return Ok(());
    }
    if !(1..=65536).contains(&min) || !min.is_power_of_two() {
        return Err(format!("block_size: the minimum block size {min} must be a power of 2 between 1 and 64K"));
    }
    if !(512..=32 << 20).contains(&pref) || !pref.is_power_of_two() {
        return Err(format!("block_size: the preferred block size {pref} must be a power of 2 between 512 and 32M"));
    }
    if max != u32::MAX && max % min != 0 {
        return Err(format!("block_size: the maximum block size {max} must be -1 (4294967295) or a multiple of the minimum {min}"));
    }
    if min > pref || pref > max {
        return Err(format!("block_size: need minimum <= preferred <= maximum, got ({min}, {pref}, {max})"));
    }
    Ok(())
}

/// `extents`: an iterable of `(offset, length, type)` tuples, at least one.
pub struct Extents;

impl Convert for Extents {
    type Output = Vec<(u64, u64, u32)>;
    fn convert<A: Attached>(self, cx: &A, v: A::Value) -> Result<Self::Output, ScriptError> {
        let mut out = Vec::new();
        let iterable = cx.for_each(&v, &mut |cx, item| {
            let t = cx
                .tuple_items(&item)
                .filter(|t| t.len() == 3)
                .ok_or_else(|| ScriptError::Invalid("extents method did not return an iterable of 3-tuples".into()))?;
            let kind = u32::try_from(cx.to_u64(&t[2])?)
                .map_err(|_| ScriptError::Invalid("extents method returned a type that does not fit 32 bits".into()))?;
            out.push((cx.to_u64(&t[0])?, cx.to_u64(&t[1])?, kind));
            Ok(())
        })?;
        if !iterable {
            return Err(ScriptError::Invalid("extents method did not return something which is iterable".into()));
        }
        if out.is_empty() {
            return Err(ScriptError::Invalid("extents method cannot return an empty list".into()));
        }
        Ok(out)
    }
}

/// One export advertised by `list_exports`: name, optional description.
pub type Export = (Vec<u8>, Option<Vec<u8>>);

/// `list_exports`: an iterable of names or `(name, description)` tuples.
pub struct Exports;

impl Convert for Exports {
    type Output = Vec<Export>;
    fn convert<A: Attached>(self, cx: &A, v: A::Value) -> Result<Self::Output, ScriptError> {
        let mut out = Vec::new();
        let iterable = cx.for_each(&v, &mut |cx, item| {
            if let Some(name) = cx.to_text_bytes(&item) {
                out.push((name, None));
                return Ok(());
            }
            let t = cx.tuple_items(&item).filter(|t| t.len() == 2).ok_or_else(|| {
                ScriptError::Invalid(
                    "list_exports method did not return an iterable of 2-tuples or names \
                     (each a str encodable as UTF-8, or bytes)"
                        .into(),
                )
            })?;
            match (cx.to_text_bytes(&t[0]), cx.to_text_bytes(&t[1])) {
                (Some(name), Some(desc)) => out.push((name, Some(desc))),
                _ => {
                    return Err(ScriptError::Invalid(
                        "list_exports method did not return an iterable of string 2-tuples".into(),
                    ))
                }
            }
            Ok(())
        })?;
        if !iterable {
            return Err(ScriptError::Invalid("list_exports method did not return something which is iterable".into()));
        }
        Ok(out)
    }
}

/// API version 1 `pread`: the result is a buffer of at least `count`
/// bytes, copied into nbdkit's buffer.
pub struct CopyInto<'a>(pub &'a mut [u8]);

impl Convert for CopyInto<'_> {
    type Output = ();
    fn convert<A: Attached>(self, cx: &A, v: A::Value) -> Result<(), ScriptError> {
        let wanted = self.0.len();
        match cx.copy_bytes(&v, self.0)? {
            None => Err(ScriptError::Invalid("value returned from pread does not support the buffer protocol".into())),
            Some(len) if len < wanted => Err(ScriptError::Invalid(format!(
                "buffer returned from pread is too small: {len} bytes, {wanted} wanted"
            ))),
            Some(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::check_block_size;

    #[test]
    fn block_sizes_nbdkit_accepts() {
        for ok in [(0, 0, 0), (1, 512, u32::MAX), (512, 4096, 1 << 20), (65536, 65536, 65536), (1, 32 << 20, 32 << 20)] {
            assert_eq!(check_block_size(ok), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn block_sizes_nbdkit_refuses() {
        for bad in [(3, 5, 7), (0, 512, 512), (1 << 17, 1 << 17, 1 << 17), (1, 256, 512), (512, 4096, 4097), (4096, 512, 4096), (1, 4096, 2048)] {
            assert!(check_block_size(bad).is_err(), "{bad:?}");
        }
    }
}
