//! Memoryviews over memory that Rust lends to Python for one call.
//!
//! The view is made with `PyMemoryView_FromMemory` (no copy). When the
//! call returns, [`LentView::finish`] makes sure nothing in Python can
//! still reach the memory: the view itself is released if the script kept
//! it, and so are any slices of it the script kept (they share the view's
//! managed buffer). Use of a released view raises `ValueError: operation
//! forbidden on released memoryview object`, never a read of memory
//! nbdkit has reused. Only a view that something else still exports (a
//! `Py_buffer` held by an extension) cannot be released: that is
//! reported as an error of the call.

use std::os::raw::{c_char, c_int};

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyList;

/// The start of CPython's `PyMemoryViewObject`
/// (Include/cpython/memoryobject.h; this prefix is unchanged since 3.3).
#[repr(C)]
struct MemoryViewHead {
    ob_base: ffi::PyVarObject,
    mbuf: *mut ffi::PyObject,
}

/// The start of CPython's `_PyManagedBufferObject`: `exports` counts the
/// memoryviews registered on it and not yet released.
#[repr(C)]
struct ManagedBufferHead {
    ob_base: ffi::PyObject,
    flags: c_int,
    exports: ffi::Py_ssize_t,
}

/// A memoryview that must not outlive the borrow it was made from.
pub(crate) struct LentView<'py> {
    view: Option<Bound<'py, PyAny>>,
    /// The view's managed buffer, which slices of the view share.
    mbuf: Option<Bound<'py, PyAny>>,
}

impl<'py> LentView<'py> {
    /// A read-only view of `bytes`.
    pub(crate) fn read_only(py: Python<'py>, bytes: &[u8]) -> PyResult<Self> {
        // SAFETY: the pointer and length describe `bytes`; PyBUF_READ makes
        // the view read-only, so Python never writes through the const
        // pointer. The caller finishes the guard before `bytes` is returned
        // to nbdkit.
        unsafe { Self::new(py, bytes.as_ptr() as *mut c_char, bytes.len(), ffi::PyBUF_READ) }
    }

    /// A writable view of `bytes`.
    pub(crate) fn writable(py: Python<'py>, bytes: &mut [u8]) -> PyResult<Self> {
        // SAFETY: as above; `bytes` is borrowed mutably for as long as the
        // caller holds the guard, so nothing else touches it meanwhile.
        unsafe { Self::new(py, bytes.as_mut_ptr() as *mut c_char, bytes.len(), ffi::PyBUF_WRITE) }
    }

    /// # Safety
    /// `ptr..ptr+len` stays valid until the guard is finished or dropped.
    unsafe fn new(py: Python<'py>, ptr: *mut c_char, len: usize, flags: i32) -> PyResult<Self> {
        // SAFETY: per the contract; the call returns a new reference or
        // NULL with an exception set, which from_owned_ptr_or_err handles.
        let view = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyMemoryView_FromMemory(ptr, len as isize, flags))? };
        // SAFETY: `view` is a memoryview (just created as one), so its
        // object starts with MemoryViewHead, and its mbuf is a live object
        // it holds a reference to; we take our own reference.
        let mbuf = unsafe {
            let head = view.as_ptr() as *const MemoryViewHead;
            Bound::from_borrowed_ptr(py, (*head).mbuf)
        };
        Ok(LentView { view: Some(view), mbuf: Some(mbuf) })
    }

    pub(crate) fn as_ptr(&self) -> *mut ffi::PyObject {
        self.view.as_ref().map_or(std::ptr::null_mut(), |v| v.as_ptr())
    }

    /// Take the memory back from Python. Call with no exception pending.
    /// `Err` names what could not be released.
    pub(crate) fn finish(mut self) -> Result<(), String> {
        self.take_back()
    }

    fn take_back(&mut self) -> Result<(), String> {
        let (Some(view), Some(mbuf)) = (self.view.take(), self.mbuf.take()) else { return Ok(()) };
        let py = view.py();
        // When we hold the only reference, dropping the view releases it.
        // SAFETY: reading the reference count of a live object we hold.
        if unsafe { ffi::Py_REFCNT(view.as_ptr()) } > 1 {
            nbdkit_plugin::backend::lent::mark_kept();
            release(&view)?;
        }
        drop(view);
        if exports(&mbuf) == 0 {
            return Ok(());
        }
        nbdkit_plugin::backend::lent::mark_kept();
        // The script kept slices of the view: find and release them.
        let referrers = py
            .import("gc")
            .and_then(|gc| gc.getattr("get_referrers")?.call1((&mbuf,)))
            .map_err(|e| e.to_string())?;
        let memoryview = py.get_type::<pyo3::types::PyMemoryView>();
        for r in referrers.cast::<PyList>().map_err(|e| e.to_string())?.iter() {
            if r.is_instance(&memoryview).unwrap_or(false) {
                release(&r)?;
            }
        }
        match exports(&mbuf) {
            0 => Ok(()),
            n => Err(format!("{n} view(s) of the buffer are still exported after the call and cannot be released")),
        }
    }
}

fn release(view: &Bound<'_, PyAny>) -> Result<(), String> {
    view.call_method0("release")
        .map(drop)
        .map_err(|e| format!("the script kept the buffer beyond the call and it cannot be released: {e}"))
}

fn exports(mbuf: &Bound<'_, PyAny>) -> ffi::Py_ssize_t {
    // SAFETY: mbuf is a live managed buffer object (taken from a
    // memoryview in `new`), which starts with ManagedBufferHead.
    unsafe { (*(mbuf.as_ptr() as *const ManagedBufferHead)).exports }
}

impl Drop for LentView<'_> {
    fn drop(&mut self) {
        // Not finished (an early return): take the memory back anyway, and
        // say so if that failed, since there is no caller to tell.
        if let Err(e) = self.take_back() {
            nbdkit_plugin::log::error(&format!("internal error: {e}"));
        }
    }
}
