//! Slice assignment between a lent view and a `bytearray` or `bytes`, as
//! one copy: `disk[o:o + len(buf)] = buf` (pwrite) and
//! `buf[:] = disk[o:o + len(buf)]` (pread), what disk scripts do with
//! the buffer they are lent.
//!
//! RustPython 0.5's `bytearray` slice assignment copies the value into a
//! new `Vec`, copies that again, and splices it in element by element
//! (`Vec::splice` in `SliceableSequenceMutOp::do_set_range`), even when
//! the slice and the value have the same length: ~11 instructions per
//! byte, 2.6 ms for a 1 MiB write against 0.1 ms for a 1 MiB read. Its
//! `memoryview` slice assignment is generic (a new view, two buffer
//! descriptors with their allocations, a segment walk): ~2,500
//! instructions to copy 4 KiB.
//!
//! So the `bytearray` and `memoryview` types' mapping assignment slots
//! are replaced by ones that do exactly those cases directly (a slice
//! with int/None bounds and step 1, the lengths equal, the view all of
//! its lent buffer and not released) and call RustPython's own slot for
//! everything else, with the same result.
//!
//! Locks: each copy holds at most the `bytearray`'s lock and then only
//! *tries* the lent buffer's (falling back if it would wait), so it
//! cannot deadlock against threads taking them in the other order.

use std::sync::OnceLock;

use rustpython_vm::builtins::{PyByteArray, PyBytes, PyInt, PyMemoryView, PySlice};
use rustpython_vm::protocol::{PyBuffer, PyMapping, PyMappingSlots};
use rustpython_vm::sliceable::SaturatedSlice;
use rustpython_vm::{PyObject, PyObjectRef, PyRef, PyResult, TryFromBorrowedObject, VirtualMachine};

use crate::lent::LentBuffer;
use crate::view;

type AssSubscript = fn(PyMapping<'_>, &PyObject, Option<PyObjectRef>, &VirtualMachine) -> PyResult<()>;

/// RustPython's own slots, for every other case.
static BYTEARRAY: OnceLock<AssSubscript> = OnceLock::new();
static MEMORYVIEW: OnceLock<AssSubscript> = OnceLock::new();

/// Install the slots (once per process: the types are static).
pub(crate) fn install(vm: &VirtualMachine) {
    let types = &vm.ctx.types;
    replace(&types.bytearray_type.slots.as_mapping, &BYTEARRAY, into_bytearray);
    replace(&types.memoryview_type.slots.as_mapping, &MEMORYVIEW, into_memoryview);
}

fn replace(slots: &PyMappingSlots, original: &OnceLock<AssSubscript>, ours: AssSubscript) {
    if let Some(theirs) = slots.ass_subscript.load() {
        if original.set(theirs).is_ok() {
            slots.ass_subscript.store(Some(ours));
        }
    }
}

fn into_bytearray(mapping: PyMapping<'_>, needle: &PyObject, value: Option<PyObjectRef>, vm: &VirtualMachine) -> PyResult<()> {
    if value.as_ref().is_some_and(|v| bytearray_from_lent(mapping.obj, needle, v, vm)) {
        return Ok(());
    }
    BYTEARRAY.get().expect("installed with the slot")(mapping, needle, value, vm)
}

fn into_memoryview(mapping: PyMapping<'_>, needle: &PyObject, value: Option<PyObjectRef>, vm: &VirtualMachine) -> PyResult<()> {
    if value.as_ref().is_some_and(|v| lent_from_bytes(mapping.obj, needle, v, vm)) {
        return Ok(());
    }
    MEMORYVIEW.get().expect("installed with the slot")(mapping, needle, value, vm)
}

/// `target[needle] = value` for a bytearray and a lent view; `false`
/// (nothing done, nothing raised) if not that case.
fn bytearray_from_lent(target: &PyObject, needle: &PyObject, value: &PyObject, vm: &VirtualMachine) -> bool {
    let (Some(target), Some(bounds)) = (target.downcast_ref::<PyByteArray>(), plain_slice(needle, vm)) else {
        return false;
    };
    let Some(owner) = whole_lent_view(value, vm) else { return false };
    let mut elements = target.borrow_buf_mut();
    let (range, step, len) = bounds.adjust_indices(elements.len());
    if step != 1 || len != owner.len() {
        return false;
    }
    let Some(region) = owner.try_read() else { return false };
    elements[range].copy_from_slice(region.bytes());
    true
}

/// `target[needle] = value` for a writable view this thread lent now and
/// `bytes` or a bytearray; `false` if not that case.
fn lent_from_bytes(target: &PyObject, needle: &PyObject, value: &PyObject, vm: &VirtualMachine) -> bool {
    let Some(owner) = view::lent_now(target).filter(|o| !o.readonly()) else { return false };
    let Some(bounds) = plain_slice(needle, vm) else { return false };
    // The script may have released it: then the original slot raises.
    if target.length(vm).is_err() {
        return false;
    }
    let (range, step, _) = bounds.adjust_indices(owner.len());
    if step != 1 {
        return false;
    }
    let write = |src: &[u8]| {
        src.len() == range.len() && owner.try_write_lent().map(|mut dst| dst[range.clone()].copy_from_slice(src)).is_some()
    };
    if let Some(bytes) = value.downcast_ref_if_exact::<PyBytes>(vm) {
        return write(bytes.as_bytes());
    }
    if let Some(bytearray) = value.downcast_ref_if_exact::<PyByteArray>(vm) {
        return write(&bytearray.borrow_buf());
    }
    false
}

/// The bounds of `needle` if it is a slice whose bounds run no Python
/// code (`__index__`): falling back to the original slot must not run it
/// twice.
fn plain_slice(needle: &PyObject, vm: &VirtualMachine) -> Option<SaturatedSlice> {
    let slice = needle.downcast_ref::<PySlice>()?;
    let plain = |o: &PyObjectRef| vm.is_none(o) || o.downcast_ref_if_exact::<PyInt>(vm).is_some();
    let plain = slice.start.as_ref().is_none_or(plain) && plain(&slice.stop) && slice.step.as_ref().is_none_or(plain);
    plain.then(|| SaturatedSlice::with_slice(slice, vm).ok()).flatten()
}

/// The lent buffer behind `value` if `value` is a memoryview of all of
/// one, contiguous, not released.
fn whole_lent_view(value: &PyObject, vm: &VirtualMachine) -> Option<PyRef<LentBuffer>> {
    // The view this thread lent for the call running now: cheap.
    if let Some(owner) = view::lent_now(value) {
        return value.length(vm).is_ok().then(|| owner.to_owned());
    }
    // Another view of a lent buffer (`memoryview(buf)`, `buf.cast('B')`).
    value.downcast_ref_if_exact::<PyMemoryView>(vm)?;
    let owner = value.get_attr("obj", vm).ok()?.downcast::<LentBuffer>().ok()?;
    let buffer = PyBuffer::try_from_borrowed_object(vm, value).ok()?;
    (buffer.desc.is_contiguous() && buffer.desc.len == owner.len()).then_some(owner)
}
