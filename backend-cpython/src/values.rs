//! The [`Attached`] primitives on pyo3 values.

use std::mem::MaybeUninit;

use nbdkit_plugin::backend::{Attached, ScriptError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};

use crate::exception;

/// The calling thread, attached: the token every primitive needs.
pub(crate) struct Cx<'py>(pub(crate) Python<'py>);

impl<'py> Attached for Cx<'py> {
    type Value = Bound<'py, PyAny>;
    type Object = Py<PyAny>;

    fn is_none(&self, v: &Self::Value) -> bool {
        v.is_none()
    }

    fn is_true_singleton(&self, v: &Self::Value) -> bool {
        // SAFETY: Py_True() returns the immortal True singleton.
        v.as_ptr() == unsafe { ffi::Py_True() }
    }

    fn truth(&self, v: &Self::Value) -> Result<bool, ScriptError> {
        v.is_truthy().map_err(|e| exception::render(self.0, e))
    }

    fn to_i64(&self, v: &Self::Value) -> Result<i64, ScriptError> {
        v.extract::<i64>().map_err(|e| exception::render(self.0, e))
    }

    fn to_u64(&self, v: &Self::Value) -> Result<u64, ScriptError> {
        v.extract::<u64>().map_err(|e| exception::render(self.0, e))
    }

    fn to_text_bytes(&self, v: &Self::Value) -> Option<Vec<u8>> {
        if let Ok(s) = v.cast::<PyString>() {
            // Text that cannot be UTF-8 (lone surrogates) is not a name.
            return s.to_str().ok().map(|s| s.as_bytes().to_vec());
        }
        v.cast::<PyBytes>().ok().map(|b| b.as_bytes().to_vec())
    }

    fn tuple_items(&self, v: &Self::Value) -> Option<Vec<Self::Value>> {
        v.cast::<PyTuple>().ok().map(|t| t.iter().collect())
    }

    fn for_each(
        &self,
        v: &Self::Value,
        f: &mut dyn FnMut(&Self, Self::Value) -> Result<(), ScriptError>,
    ) -> Result<bool, ScriptError> {
        let Ok(iter) = v.try_iter() else {
            return Ok(false);
        };
        for item in iter {
            f(self, item.map_err(|e| exception::render(self.0, e))?)?;
        }
        Ok(true)
    }

    fn copy_bytes(&self, v: &Self::Value, dst: &mut [u8]) -> Result<Option<usize>, ScriptError> {
        let mut view = MaybeUninit::<ffi::Py_buffer>::uninit();
        // SAFETY: v is a live object; on success view is filled in and
        // must be released with PyBuffer_Release, which we do below.
        if unsafe { ffi::PyObject_GetBuffer(v.as_ptr(), view.as_mut_ptr(), ffi::PyBUF_SIMPLE) } == -1 {
            // Not a buffer: clear the TypeError, the caller reports it.
            drop(PyErr::take(self.0));
            return Ok(None);
        }
        // SAFETY: GetBuffer succeeded, so view is initialized.
        let mut view = unsafe { view.assume_init() };
        let len = usize::try_from(view.len).unwrap_or(0);
        let n = len.min(dst.len());
        // SAFETY: view.buf points to `len` readable bytes (PyBUF_SIMPLE is
        // contiguous); dst has room for n <= len bytes; they cannot overlap
        // (dst is nbdkit's buffer, borrowed mutably by us).
        unsafe {
            std::ptr::copy_nonoverlapping(view.buf as *const u8, dst.as_mut_ptr(), n);
            ffi::PyBuffer_Release(&mut view);
        }
        Ok(Some(len))
    }

    fn keep(&self, v: Self::Value) -> Self::Object {
        v.unbind()
    }
}
