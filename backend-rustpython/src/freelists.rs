//! RustPython's per-thread free lists, emptied before a thread ends.
//!
//! RustPython 0.5 keeps dead objects of some types (int, float, list,
//! dict, tuple, slice, range, ...) in thread-local free lists for reuse.
//! When a thread ends, a free list frees its objects' memory without
//! dropping their contents (`FreeList::drop` in rustpython-vm's
//! `object/core.rs`): whatever a cached object still owns is leaked. For
//! a slice that is its `stop` (its `clear` keeps it), for a range its
//! three ints, for a list its element buffer. nbdkit runs each connection
//! on new threads, so `disk[offset:offset + len(buf)]` in a callback
//! leaked one int object per connection.
//!
//! So a thread's free lists are registered before our VM handle
//! ([`register`], part of the warm-up in `thread.rs`), and therefore
//! destroyed after it; when the handle goes, [`flush`] replaces every
//! cached slice, range and list by one that owns nothing on the heap
//! (`None`, small ints, which are static, an empty list), dropping what
//! the old ones owned.
//!
//! Not fixable from outside: a cached dict always owns its index table
//! (at least 64 bytes), leaked when a thread that freed dicts ends.

use rustpython_vm::builtins::{PyList, PyRange, PySlice};
use rustpython_vm::{PyPayload, PyRef, VirtualMachine};

/// Use each free list once, so that its thread-local storage exists
/// (and is destroyed after anything registered later).
pub(crate) fn register(vm: &VirtualMachine) {
    drop(heapless(vm, 1));
}

/// Replace this thread's cached slices, ranges and lists by ones that
/// own nothing on the heap. Call attached, as late as possible.
pub(crate) fn flush(vm: &VirtualMachine) {
    // Allocating takes from the free list (dropping the old contents);
    // all are alive at once, so each takes a different one; dropping
    // them puts them back.
    drop(heapless(vm, PyList::MAX_FREELIST.max(PySlice::MAX_FREELIST).max(PyRange::MAX_FREELIST)));
}

type Heapless = (Vec<PyRef<PySlice>>, Vec<PyRef<PyRange>>, Vec<PyRef<PyList>>);

/// `n` slices, ranges and lists that own nothing on the heap.
fn heapless(vm: &VirtualMachine, n: usize) -> Heapless {
    let ctx = &vm.ctx;
    let slices = (0..n.min(PySlice::MAX_FREELIST))
        .map(|_| PySlice { start: None, stop: ctx.none(), step: None }.into_ref(ctx))
        .collect();
    let ranges = (0..n.min(PyRange::MAX_FREELIST))
        .map(|_| PyRange { start: ctx.new_int(0), stop: ctx.new_int(0), step: ctx.new_int(1) }.into_ref(ctx))
        .collect();
    let lists = (0..n.min(PyList::MAX_FREELIST)).map(|_| ctx.new_list(Vec::new())).collect();
    (slices, ranges, lists)
}
