//! Memoryviews over memory that Rust lends to Python for one call.
//!
//! [`LentView`] lends a byte slice to the script as a `memoryview` of a
//! [`LentBuffer`] and takes it back when the call returns. Every view
//! the script can derive from it (slices, casts, `memoryview(buf)`,
//! `toreadonly()`, and views of those) holds a reference to the same
//! `LentBuffer`, so reference counts say exactly whether anything of the
//! call survived it:
//!
//! * Nothing did (the common case): the memory is taken back, and a
//!   writable view is kept for this thread's next call of the same size
//!   (making one costs more than the rest of our side of a call).
//! * Something did: the plugin is told ([`lent::mark_kept`]), the view
//!   is released, and so is every view of it found in a container the GC
//!   tracks ([`sweep`]); using them raises `ValueError`. If anything else
//!   still holds the buffer, it reads a private copy from now on.
//!
//! [`lent::mark_kept`]: nbdkit_plugin::backend::lent::mark_kept

use std::cell::Cell;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;

use nbdkit_plugin::backend::lent;
use rustpython_vm::builtins::PyMemoryView;
use rustpython_vm::{AsObject, Py, PyObject, PyObjectRef, PyPayload, PyRef, PyResult, VirtualMachine};

use crate::lent::LentBuffer;
use crate::sweep;

/// A lent buffer and the memoryview of it that the script gets.
struct Lent {
    owner: PyRef<LentBuffer>,
    view: PyRef<PyMemoryView>,
}

impl Lent {
    fn new(vm: &VirtualMachine, len: usize, readonly: bool) -> PyResult<Self> {
        let owner = LentBuffer::new(len, readonly).into_ref(&vm.ctx);
        let view = PyMemoryView::from_buffer(LentBuffer::export(&owner), vm)?.into_ref(&vm.ctx);
        Ok(Lent { owner, view })
    }

    /// Whether nothing but `self` holds the view or the buffer: the
    /// script kept nothing, not even a weak reference.
    fn unshared(&self) -> bool {
        self.view.as_object().strong_count() == 1 && self.owner.as_object().strong_count() == 2
    }

    /// Whether the view can serve another call: unshared, writable (a
    /// read-only view caches its hash), not released by the script (the
    /// view's own export is the only one), no weak reference to it.
    fn reusable(&self) -> bool {
        !self.owner.readonly() && self.owner.exports() == 1 && self.view.as_object().weak_count().unwrap_or(0) == 0
    }
}

thread_local! {
    /// This thread's spare writable view, not lent. No destructor: it is
    /// dropped by [`drop_spare`], attached, when the thread's VM handle
    /// goes (a TLS destructor could run after RustPython's own TLS).
    static SPARE: Cell<Option<ManuallyDrop<Lent>>> = const { Cell::new(None) };
}

fn take_spare(len: usize, readonly: bool) -> Option<Lent> {
    let spare = SPARE.take()?;
    if spare.owner.len() == len && spare.owner.readonly() == readonly {
        return Some(ManuallyDrop::into_inner(spare));
    }
    SPARE.set(Some(spare));
    None
}

/// A view lent now and its buffer (see [`LENT_NOW`]).
type LentEntry = (NonNull<PyObject>, NonNull<Py<LentBuffer>>);

thread_local! {
    /// The views this thread has lent to calls still running, with their
    /// buffers, for [`lent_now`] (two: no callback takes more buffers).
    /// Raw pointers, no destructor: an entry lives only as long as the
    /// `LentView` that holds both objects.
    static LENT_NOW: Cell<[Option<LentEntry>; 2]> = const { Cell::new([None; 2]) };
}

/// The buffer behind `obj` if `obj` is a view this thread lent to a call
/// still running (not one derived from it). Cheap: for [`fastcopy`].
///
/// [`fastcopy`]: crate::fastcopy
pub(crate) fn lent_now(obj: &PyObject) -> Option<&Py<LentBuffer>> {
    let (_, owner) = LENT_NOW.get().into_iter().flatten().find(|(view, _)| std::ptr::eq(view.as_ptr(), obj))?;
    // SAFETY: the entry exists, so the `LentView` that made it holds the
    // view, and the view holds its buffer as long as the view lives,
    // which is at least as long as the caller's borrow of `obj`.
    Some(unsafe { owner.as_ref() })
}

fn set_lent_now(lent: &Lent, on: bool) {
    let entry = (NonNull::from(lent.view.as_object()), NonNull::from(&*lent.owner));
    let mut all = LENT_NOW.get();
    let slot = all.iter_mut().find(|e| if on { e.is_none() } else { **e == Some(entry) });
    if let Some(slot) = slot {
        *slot = on.then_some(entry);
        LENT_NOW.set(all);
    }
}

/// Keep `lent` for this thread's next call (replacing an older spare).
fn keep_spare(lent: Lent) {
    if let Some(old) = SPARE.replace(Some(ManuallyDrop::new(lent))) {
        drop(ManuallyDrop::into_inner(old));
    }
}

/// Drop this thread's spare view. Call attached, before the thread's VM
/// handle goes.
pub(crate) fn drop_spare() {
    if let Some(spare) = SPARE.take() {
        drop(ManuallyDrop::into_inner(spare));
    }
}

/// A memoryview that must not outlive the borrow it was made from.
pub(crate) struct LentView<'a> {
    vm: &'a VirtualMachine,
    lent: Option<Lent>,
    _borrow: PhantomData<&'a mut [u8]>,
}

impl<'a> LentView<'a> {
    /// A read-only view of `bytes`.
    pub(crate) fn read_only(vm: &'a VirtualMachine, bytes: &'a [u8]) -> PyResult<Self> {
        // The pointer is stored as *mut only to share `Region`; a
        // read-only export is never written through.
        Self::new(vm, bytes.as_ptr().cast_mut(), bytes.len(), true)
    }

    /// A writable view of `bytes`.
    pub(crate) fn writable(vm: &'a VirtualMachine, bytes: &'a mut [u8]) -> PyResult<Self> {
        Self::new(vm, bytes.as_mut_ptr(), bytes.len(), false)
    }

    fn new(vm: &'a VirtualMachine, ptr: *mut u8, len: usize, readonly: bool) -> PyResult<Self> {
        let lent = match take_spare(len, readonly) {
            Some(lent) => lent,
            None => Lent::new(vm, len, readonly)?,
        };
        // SAFETY: `ptr..ptr+len` is borrowed for 'a (read-only views only
        // read it), and the guard takes it back when finished or dropped,
        // which happens within 'a.
        unsafe { lent.owner.lend(ptr) };
        set_lent_now(&lent, true);
        Ok(LentView { vm, lent: Some(lent), _borrow: PhantomData })
    }

    /// The memoryview, to pass to the script.
    pub(crate) fn object(&self) -> PyObjectRef {
        self.lent.as_ref().map_or_else(|| self.vm.ctx.none(), |l| l.view.clone().into())
    }

    /// Take the memory back from Python (dropping the guard does the same).
    pub(crate) fn finish(mut self) {
        self.take_back();
    }

    fn take_back(&mut self) {
        let Some(lent) = self.lent.take() else { return };
        set_lent_now(&lent, false);
        if lent.unshared() {
            // Nothing else can reach the memory: no release, no scan.
            lent.owner.take_back(false);
            if lent.reusable() {
                keep_spare(lent);
            }
            return;
        }
        lent::mark_kept();
        let Lent { owner, view } = lent;
        let copy = sweep::release_all(self.vm, &owner, view);
        owner.take_back(copy);
    }
}

impl Drop for LentView<'_> {
    fn drop(&mut self) {
        // Not finished (an early return): take the memory back anyway.
        self.take_back();
    }
}
