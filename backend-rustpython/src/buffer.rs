//! Memoryviews over memory that Rust lends to Python for one call.
//!
//! A [`LentBuffer`] is a small Python object exporting the lent memory
//! through RustPython's buffer protocol (the counterpart of CPython's
//! `PyMemoryView_FromMemory`); the script gets a `memoryview` of it. When
//! the call returns, [`LentView::finish`] takes the memory back: the view
//! is released, and so is every slice of it the script kept in a
//! container the GC tracks (see [`release_views_of`]). Use of a released
//! view raises `ValueError: operation forbidden on released memoryview
//! object`.
//!
//! The lent memory itself is only ever reached under the buffer's lock,
//! and taking it back swaps it out under that lock, so nothing can read
//! nbdkit's memory afterwards even in cases the export count does not
//! see (RustPython's own `BufferedWriter.write` clones a buffer without
//! counting it): a view that somehow survives reads a private copy (if
//! still exported) or zeroes, never a dangling pointer.

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicIsize, Ordering};

use rustpython_vm::builtins::PyMemoryView;
use rustpython_vm::common::borrow::{BorrowedValue, BorrowedValueMut};
use rustpython_vm::common::lock::{PyRwLock, PyRwLockReadGuard, PyRwLockWriteGuard};
use rustpython_vm::protocol::{BufferDescriptor, BufferMethods, PyBuffer};
use rustpython_vm::types::AsBuffer;
use rustpython_vm::class::PyClassImpl;
use rustpython_vm::{pyclass, AsObject, Py, PyObjectRef, PyPayload, PyRef, PyResult, VirtualMachine};

/// Where the bytes of a [`LentBuffer`] are.
enum Region {
    /// Rust's memory, during the call.
    Lent { ptr: *mut u8, len: usize },
    /// Taken back while a view was still exported: a private copy.
    Copied(Box<[u8]>),
    /// Taken back: no memory at all until a stray view asks for some
    /// (then zeroes, see [`LentBuffer::read`]).
    Returned { len: usize },
}

impl Region {
    fn bytes(&self) -> &[u8] {
        match self {
            // SAFETY: Lent memory is valid until `LentView::take_back`
            // replaces this region, under the write lock, before the
            // borrow it came from ends.
            Region::Lent { ptr, len } => unsafe { std::slice::from_raw_parts(*ptr, *len) },
            Region::Copied(b) => b,
            Region::Returned { .. } => &[],
        }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            // SAFETY: as in `bytes`; only writable buffers reach here
            // (memoryview refuses writes to a read-only export), and those
            // were made from a `&mut [u8]`.
            Region::Lent { ptr, len } => unsafe { std::slice::from_raw_parts_mut(*ptr, *len) },
            Region::Copied(b) => b,
            Region::Returned { .. } => &mut [],
        }
    }
}

/// The object behind a lent memoryview (`nbdkit._lent_buffer`).
#[pyclass(name = "_lent_buffer", module = "nbdkit")]
#[derive(PyPayload)]
pub(crate) struct LentBuffer {
    region: PyRwLock<Region>,
    len: usize,
    readonly: bool,
    /// Buffers exported and not yet released (CPython's `exports`).
    exports: AtomicIsize,
}

// SAFETY: the raw pointer in `Region::Lent` is only dereferenced under
// `region`'s lock, while the lent borrow is alive (see `Region::bytes`);
// the memory it points to is plain bytes that any thread may read.
unsafe impl Send for LentBuffer {}
// SAFETY: as above; all access goes through the lock.
unsafe impl Sync for LentBuffer {}

impl fmt::Debug for LentBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LentBuffer").field("len", &self.len).field("readonly", &self.readonly).finish()
    }
}

#[pyclass(with(AsBuffer))]
impl LentBuffer {}

/// Create the Python type of [`LentBuffer`]; once, before any view.
pub(crate) fn init_type() {
    LentBuffer::make_static_type();
}

impl LentBuffer {
    /// The region for reading, never `Returned` (a stray view gets zeroes).
    fn read(&self) -> PyRwLockReadGuard<'_, Region> {
        loop {
            let region = self.region.read();
            if !matches!(*region, Region::Returned { .. }) {
                return region;
            }
            drop(region);
            self.back_with_zeroes();
        }
    }

    fn write(&self) -> PyRwLockWriteGuard<'_, Region> {
        self.back_with_zeroes();
        self.region.write()
    }

    fn back_with_zeroes(&self) {
        let mut region = self.region.write();
        if let Region::Returned { len } = *region {
            *region = Region::Copied(vec![0; len].into_boxed_slice());
        }
    }

    fn exports(&self) -> isize {
        self.exports.load(Ordering::Acquire)
    }

    /// Swap Rust's memory out: a copy if a view is still exported.
    fn take_back(&self) {
        let mut region = self.region.write();
        if let Region::Lent { .. } = *region {
            *region = if self.exports() > 0 {
                Region::Copied(region.bytes().into())
            } else {
                Region::Returned { len: self.len }
            };
        }
    }
}

static LENT_BUFFER_METHODS: BufferMethods = BufferMethods {
    obj_bytes: |buffer| {
        let this = buffer.obj_as::<LentBuffer>();
        BorrowedValue::MappedReadLock(PyRwLockReadGuard::map(this.read(), Region::bytes))
    },
    obj_bytes_mut: |buffer| {
        let this = buffer.obj_as::<LentBuffer>();
        BorrowedValueMut::MappedWriteLock(PyRwLockWriteGuard::map(this.write(), Region::bytes_mut))
    },
    release: |buffer| {
        buffer.obj_as::<LentBuffer>().exports.fetch_sub(1, Ordering::AcqRel);
    },
    retain: |buffer| {
        buffer.obj_as::<LentBuffer>().exports.fetch_add(1, Ordering::AcqRel);
    },
};

impl AsBuffer for LentBuffer {
    fn as_buffer(zelf: &Py<Self>, vm: &VirtualMachine) -> PyResult<PyBuffer> {
        if !matches!(*zelf.region.read(), Region::Lent { .. }) {
            return Err(vm.new_value_error("operation forbidden on released memoryview object"));
        }
        Ok(PyBuffer::new(zelf.to_owned().into(), BufferDescriptor::simple(zelf.len, zelf.readonly), &LENT_BUFFER_METHODS))
    }
}

/// A memoryview that must not outlive the borrow it was made from.
pub(crate) struct LentView<'a> {
    vm: &'a VirtualMachine,
    owner: Option<PyRef<LentBuffer>>,
    view: Option<PyRef<PyMemoryView>>,
    _borrow: PhantomData<&'a mut [u8]>,
}

impl<'a> LentView<'a> {
    /// A read-only view of `bytes`.
    pub(crate) fn read_only(vm: &'a VirtualMachine, bytes: &'a [u8]) -> PyResult<Self> {
        // The pointer is stored as *mut only to share `Region`; a
        // read-only export is never written through (see `bytes_mut`).
        Self::new(vm, bytes.as_ptr().cast_mut(), bytes.len(), true)
    }

    /// A writable view of `bytes`.
    pub(crate) fn writable(vm: &'a VirtualMachine, bytes: &'a mut [u8]) -> PyResult<Self> {
        Self::new(vm, bytes.as_mut_ptr(), bytes.len(), false)
    }

    fn new(vm: &'a VirtualMachine, ptr: *mut u8, len: usize, readonly: bool) -> PyResult<Self> {
        let owner = LentBuffer {
            region: PyRwLock::new(Region::Lent { ptr, len }),
            len,
            readonly,
            exports: AtomicIsize::new(0),
        }
        .into_ref(&vm.ctx);
        let mut this = LentView { vm, owner: Some(owner), view: None, _borrow: PhantomData };
        let owner = this.owner.as_ref().expect("just set");
        let buffer = AsBuffer::as_buffer(owner, vm)?;
        this.view = Some(PyMemoryView::from_buffer(buffer, vm)?.into_ref(&vm.ctx));
        Ok(this)
    }

    /// The memoryview, to pass to the script.
    pub(crate) fn object(&self) -> PyObjectRef {
        self.view.as_ref().map_or_else(|| self.vm.ctx.none(), |v| v.clone().into())
    }

    /// Take the memory back from Python (dropping the guard does the same).
    pub(crate) fn finish(mut self) {
        self.take_back();
    }

    fn take_back(&mut self) {
        let (Some(owner), Some(view)) = (self.owner.take(), self.view.take()) else { return };
        view.release();
        drop(view);
        if owner.exports() > 0 {
            // The script kept slices of the view: find and release them.
            release_views_of(self.vm, &owner);
            if owner.exports() > 0 {
                // Held where no scan reaches (not in any tracked
                // container): safe all the same, it gets a copy.
                nbdkit_plugin::log::debug(&format!(
                    "{} view(s) of an nbdkit buffer outlive the call and now see a copy of it",
                    owner.exports()
                ));
            }
        }
        owner.take_back();
    }
}

/// Release every memoryview of `owner` that a GC-tracked object holds.
///
/// CPython finds them with `gc.get_referrers(buffer)`; RustPython does not
/// track memoryviews, so this looks one step further: the views among
/// the referents of every tracked object (dicts, lists, instances,
/// frames, cells). It walks the heap, but only when a script kept a
/// slice of a buffer beyond the call.
fn release_views_of(vm: &VirtualMachine, owner: &PyRef<LentBuffer>) {
    for container in rustpython_vm::gc_state::gc_state().get_objects(None) {
        for r in container.gc_get_referents() {
            let Some(view) = r.downcast_ref::<PyMemoryView>() else { continue };
            if view.as_object().get_attr("obj", vm).is_ok_and(|o| o.is(owner)) {
                view.release();
            }
        }
    }
}

impl Drop for LentView<'_> {
    fn drop(&mut self) {
        // Not finished (an early return): take the memory back anyway.
        self.take_back();
    }
}
