//! Releasing the views of a lent buffer that a script kept beyond the call.
//!
//! CPython's backend finds them with `gc.get_referrers(buffer)`.
//! RustPython does not track memoryviews in its GC, so this looks one step
//! further: the memoryviews among the referents of every tracked object
//! (lists, dicts, instances, cells, frames, ...). It walks the heap, so it
//! runs only when reference counts say the script kept something.
//!
//! It also counts what it found against the reference counts taken
//! before: a reference it did not find (a view in a container the GC
//! does not track, a buffer held by native code) means something may
//! still read the buffer, which then gets a private copy instead.

use rustpython_vm::builtins::PyMemoryView;
use rustpython_vm::{AsObject, PyObjectRef, PyRef, VirtualMachine};

use crate::lent::LentBuffer;

/// Release `view` (the view the script was given) and every memoryview
/// of `owner` that a GC-tracked object holds. Returns whether anything
/// may still read `owner`'s memory through a reference not accounted
/// for: then the caller must give it a private copy.
pub(crate) fn release_all(vm: &VirtualMachine, owner: &PyRef<LentBuffer>, view: PyRef<PyMemoryView>) -> bool {
    view.release();
    // Holders other than us, counted before the scan adds its own
    // temporary references: of the view, and of the buffer (every view
    // of it holds one; minus ours and the view's).
    let view_holders = view.as_object().strong_count() - 1;
    let owner_holders = owner.as_object().strong_count() - 2;
    let mut view_found = 0;
    // Views of `owner` released here, with how many references to each
    // the scan saw.
    let mut derived: Vec<(PyObjectRef, usize)> = Vec::new();
    for container in rustpython_vm::gc_state::gc_state().get_objects(None) {
        for r in container.gc_get_referents() {
            if r.is(&view) {
                view_found += 1;
            } else if let Some(seen) = derived.iter_mut().find(|(d, _)| d.is(&r)) {
                seen.1 += 1;
            } else if is_unreleased_view_of(vm, &r, owner) {
                if let Some(v) = r.downcast_ref::<PyMemoryView>() {
                    v.release();
                }
                derived.push((r, 1));
            }
        }
    }
    let unaccounted = view_found < view_holders
        || derived.len() < owner_holders
        // Each derived view: holders besides `derived` itself.
        || derived.iter().any(|(d, seen)| d.strong_count() - 1 > *seen);
    unaccounted
}

/// Whether `obj` is a memoryview of `owner` not yet released (a released
/// one no longer says what it views).
fn is_unreleased_view_of(vm: &VirtualMachine, obj: &PyObjectRef, owner: &PyRef<LentBuffer>) -> bool {
    obj.downcast_ref::<PyMemoryView>().is_some() && obj.get_attr("obj", vm).is_ok_and(|o| o.is(owner))
}
