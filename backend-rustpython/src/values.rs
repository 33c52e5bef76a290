//! The [`Attached`] primitives on RustPython values, with CPython's
//! conversion rules and messages (what pyo3's `extract` gives on the
//! CPython backend).

use nbdkit_plugin::backend::{Attached, ScriptError};
use rustpython_vm::builtins::{PyBytes, PyStr, PyTuple};
use rustpython_vm::protocol::{PyBuffer, PyIterReturn};
use rustpython_vm::{AsObject, PyObjectRef, PyResult, TryFromBorrowedObject, VirtualMachine};

use crate::exception;
use crate::object::Kept;

/// The calling thread, attached: the token every primitive needs.
pub(crate) struct Cx<'vm>(pub(crate) &'vm VirtualMachine);

impl Cx<'_> {
    fn render(&self, e: rustpython_vm::builtins::PyBaseExceptionRef) -> ScriptError {
        exception::render(self.0, e)
    }
}

/// `int(v)` by the index protocol, as `PyLong_AsLong` reads it.
pub(crate) fn index_i64(vm: &VirtualMachine, v: &PyObjectRef) -> PyResult<i64> {
    let i = v.try_index(vm)?;
    i64::try_from(i.as_bigint()).map_err(|_| vm.new_overflow_error("Python int too large to convert to C long"))
}

/// `int(v)` by the index protocol, as `PyLong_AsUnsignedLongLong` reads it.
fn index_u64(vm: &VirtualMachine, v: &PyObjectRef) -> PyResult<u64> {
    let i = v.try_index(vm)?;
    let i = i.as_bigint();
    if let Ok(n) = u64::try_from(i) {
        return Ok(n);
    }
    // Out of range: which side (the sign type is not re-exported).
    let negative = i64::try_from(i).map_or_else(|_| i.to_string().starts_with('-'), |n| n < 0);
    Err(vm.new_overflow_error(if negative { "can't convert negative int to unsigned" } else { "int too big to convert" }))
}

impl Attached for Cx<'_> {
    type Value = PyObjectRef;
    type Object = Kept;

    fn is_none(&self, v: &Self::Value) -> bool {
        self.0.is_none(v)
    }

    fn is_true_singleton(&self, v: &Self::Value) -> bool {
        v.is(&self.0.ctx.true_value)
    }

    fn truth(&self, v: &Self::Value) -> Result<bool, ScriptError> {
        v.clone().try_to_bool(self.0).map_err(|e| self.render(e))
    }

    fn to_i64(&self, v: &Self::Value) -> Result<i64, ScriptError> {
        index_i64(self.0, v).map_err(|e| self.render(e))
    }

    fn to_u64(&self, v: &Self::Value) -> Result<u64, ScriptError> {
        index_u64(self.0, v).map_err(|e| self.render(e))
    }

    fn to_text_bytes(&self, v: &Self::Value) -> Option<Vec<u8>> {
        if let Some(s) = v.downcast_ref::<PyStr>() {
            // Text that cannot be UTF-8 (lone surrogates) is not a name.
            return s.to_str().map(|s| s.as_bytes().to_vec());
        }
        v.downcast_ref::<PyBytes>().map(|b| b.as_bytes().to_vec())
    }

    fn tuple_items(&self, v: &Self::Value) -> Option<Vec<Self::Value>> {
        v.downcast_ref::<PyTuple>().map(|t| t.as_slice().to_vec())
    }

    fn for_each(
        &self,
        v: &Self::Value,
        f: &mut dyn FnMut(&Self, Self::Value) -> Result<(), ScriptError>,
    ) -> Result<bool, ScriptError> {
        let Ok(iter) = v.get_iter(self.0) else {
            return Ok(false);
        };
        loop {
            match iter.next(self.0).map_err(|e| self.render(e))? {
                PyIterReturn::Return(item) => f(self, item)?,
                PyIterReturn::StopIteration(_) => return Ok(true),
            }
        }
    }

    fn copy_bytes(&self, v: &Self::Value, dst: &mut [u8]) -> Result<Option<usize>, ScriptError> {
        let Ok(buffer) = PyBuffer::try_from_borrowed_object(self.0, v) else {
            return Ok(None);
        };
        let len = buffer.desc.len;
        buffer.contiguous_or_collect(|bytes| {
            let n = bytes.len().min(dst.len());
            dst[..n].copy_from_slice(&bytes[..n]);
        });
        Ok(Some(len))
    }

    fn keep(&self, v: Self::Value) -> Self::Object {
        Kept::new(v)
    }
}
