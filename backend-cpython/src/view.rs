//! Memoryviews over memory that Rust lends to Python for one call.
//!
//! The view is made with `PyMemoryView_FromMemory` (no copy) and
//! released when the [`LentView`] guard drops, whatever path the call
//! took: a script that kept a reference gets `ValueError: operation
//! forbidden on released memoryview object` on use, never a read of
//! memory nbdkit has reused.

use std::os::raw::c_char;

use pyo3::ffi;
use pyo3::prelude::*;

/// A memoryview that must not outlive the borrow it was made from.
pub(crate) struct LentView<'py> {
    view: Bound<'py, PyAny>,
}

impl<'py> LentView<'py> {
    /// A read-only view of `bytes`.
    pub(crate) fn read_only(py: Python<'py>, bytes: &[u8]) -> PyResult<Self> {
        // SAFETY: the pointer and length describe `bytes`; PyBUF_READ makes
        // the view read-only, so Python never writes through the const
        // pointer. The guard releases the view before `bytes` is returned
        // to the caller (see `Drop`).
        unsafe { Self::new(py, bytes.as_ptr() as *mut c_char, bytes.len(), ffi::PyBUF_READ) }
    }

    /// A writable view of `bytes`.
    pub(crate) fn writable(py: Python<'py>, bytes: &mut [u8]) -> PyResult<Self> {
        // SAFETY: as above; `bytes` is borrowed mutably for as long as the
        // caller holds the guard, so nothing else touches it meanwhile.
        unsafe { Self::new(py, bytes.as_mut_ptr() as *mut c_char, bytes.len(), ffi::PyBUF_WRITE) }
    }

    /// # Safety
    /// `ptr..ptr+len` stays valid until the guard is dropped.
    unsafe fn new(py: Python<'py>, ptr: *mut c_char, len: usize, flags: i32) -> PyResult<Self> {
        // SAFETY: per the contract; the call returns a new reference or
        // NULL with an exception set, which from_owned_ptr_or_err handles.
        let view = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyMemoryView_FromMemory(ptr, len as isize, flags))? };
        Ok(LentView { view })
    }

    pub(crate) fn as_ptr(&self) -> *mut ffi::PyObject {
        self.view.as_ptr()
    }
}

impl Drop for LentView<'_> {
    fn drop(&mut self) {
        // SAFETY: reading the reference count of a live object we hold.
        let shared = unsafe { ffi::Py_REFCNT(self.view.as_ptr()) } > 1;
        if shared {
            // The script kept the view: release it so later use raises
            // instead of touching lent memory. (When we hold the only
            // reference, dropping it destroys the view: nothing to do.)
            if let Err(e) = self.view.call_method0("release") {
                // A view with live exports (e.g. a nested memoryview) cannot
                // be released; report rather than hide it.
                e.restore(self.view.py());
                // SAFETY: an exception is set; print it to stderr and clear.
                unsafe { ffi::PyErr_WriteUnraisable(self.view.as_ptr()) };
            }
        }
    }
}
