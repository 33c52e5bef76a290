//! [`LentBuffer`]: the Python object that exports memory Rust lends for
//! one call, through RustPython's buffer protocol (the counterpart of
//! CPython's `PyMemoryView_FromMemory`). The script sees a `memoryview`
//! of it; [`crate::view`] decides when the memory is lent and taken back.
//!
//! The lent memory is only ever reached under the buffer's lock, and
//! taking it back swaps it out under that lock, so nothing can read
//! nbdkit's memory afterwards, whatever RustPython's export counting
//! says (it is not exact: `memoryview.cast` shares a buffer without
//! counting it, `BufferedWriter.write` clones one without counting it):
//! a view that survives reads a private copy, or zeroes, never a dangling
//! pointer.

use std::fmt;
use std::sync::atomic::{AtomicIsize, Ordering};

use rustpython_vm::class::PyClassImpl;
use rustpython_vm::common::borrow::{BorrowedValue, BorrowedValueMut};
use rustpython_vm::common::lock::{PyMappedRwLockWriteGuard, PyRwLock, PyRwLockReadGuard, PyRwLockWriteGuard};
use rustpython_vm::protocol::{BufferDescriptor, BufferMethods, PyBuffer};
use rustpython_vm::types::AsBuffer;
use rustpython_vm::{pyclass, Py, PyPayload, PyResult, VirtualMachine};

/// Where the bytes of a [`LentBuffer`] are.
pub(crate) enum Region {
    /// Rust's memory, during the call.
    Lent { ptr: *mut u8, len: usize },
    /// Taken back while something could still read it: a private copy.
    Copied(Box<[u8]>),
    /// Not lent: no memory at all until a stray reader asks for some
    /// (then zeroes, see [`LentBuffer::read`]).
    Returned { len: usize },
}

impl Region {
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            // SAFETY: Lent memory is valid until `LentBuffer::take_back`
            // replaces this region, under the write lock, before the
            // borrow it came from ends (`LentView` holds that borrow).
            Region::Lent { ptr, len } => unsafe { std::slice::from_raw_parts(*ptr, *len) },
            Region::Copied(b) => b,
            Region::Returned { .. } => &[],
        }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            // SAFETY: as in `bytes`; only writable buffers reach here
            // (memoryview refuses writes to a read-only export), and those
            // were lent from a `&mut [u8]`.
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
    /// Buffers exported minus buffers released. Only a hint (see the
    /// module docs): it may undercount, never keeps memory reachable.
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
    /// A buffer of `len` bytes with nothing lent yet.
    pub(crate) fn new(len: usize, readonly: bool) -> Self {
        LentBuffer { region: PyRwLock::new(Region::Returned { len }), len, readonly, exports: AtomicIsize::new(0) }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn readonly(&self) -> bool {
        self.readonly
    }

    pub(crate) fn exports(&self) -> isize {
        self.exports.load(Ordering::Acquire)
    }

    /// Lend `ptr..ptr+len` (this buffer's length).
    ///
    /// # Safety
    /// The memory stays valid, and is not used by Rust in a way that
    /// conflicts with the buffer's access (read-only or not), until
    /// [`LentBuffer::take_back`] has returned.
    pub(crate) unsafe fn lend(&self, ptr: *mut u8) {
        *self.region.write() = Region::Lent { ptr, len: self.len };
    }

    /// Take the lent memory back: with `copy`, whoever still reads the
    /// buffer reads a private copy of it from now on; otherwise no one
    /// may read it any more (and a stray reader would see zeroes).
    pub(crate) fn take_back(&self, copy: bool) {
        let mut region = self.region.write();
        if let Region::Lent { .. } = *region {
            *region = if copy { Region::Copied(region.bytes().into()) } else { Region::Returned { len: self.len } };
        }
    }

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

    /// The region for reading (lent or a copy) if that needs no waiting:
    /// a caller that holds another lock must not wait for this one.
    pub(crate) fn try_read(&self) -> Option<PyRwLockReadGuard<'_, Region>> {
        self.region.try_read().filter(|r| !matches!(**r, Region::Returned { .. }))
    }

    /// The lent memory for writing if that needs no waiting (see
    /// [`LentBuffer::try_read`]); `None` too if not lent now.
    pub(crate) fn try_write_lent(&self) -> Option<PyMappedRwLockWriteGuard<'_, [u8]>> {
        let region = self.region.try_write().filter(|r| matches!(**r, Region::Lent { .. }))?;
        Some(PyRwLockWriteGuard::map(region, Region::bytes_mut))
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
        // Only while lent: `memoryview(buf.obj)` after the call fails.
        if !matches!(*zelf.region.read(), Region::Lent { .. }) {
            return Err(vm.new_value_error("operation forbidden on released memoryview object"));
        }
        Ok(LentBuffer::export(zelf))
    }
}

impl LentBuffer {
    /// A buffer-protocol export of the whole buffer, lent or not (to make
    /// the view before lending; reading it before then gives zeroes).
    pub(crate) fn export(zelf: &Py<Self>) -> PyBuffer {
        PyBuffer::new(zelf.to_owned().into(), BufferDescriptor::simple(zelf.len, zelf.readonly), &LENT_BUFFER_METHODS)
    }
}
