//! [`Kept`]: a Python object held by Rust beyond one call (a callable, a
//! connection's handle).

use std::mem::ManuallyDrop;

use rustpython_vm::PyObjectRef;

use crate::thread;

/// A Python object kept across calls and threads.
///
/// Dropping one releases it on the dropping thread, attached, so that a
/// `__del__` it triggers runs with a VM, as in CPython. After the
/// interpreter is finalized, or on a thread that is ending, the
/// reference is leaked instead: freeing then could run Python without an
/// interpreter.
pub struct Kept(ManuallyDrop<PyObjectRef>);

impl Kept {
    pub(crate) fn new(obj: PyObjectRef) -> Self {
        Kept(ManuallyDrop::new(obj))
    }

    pub(crate) fn get(&self) -> &PyObjectRef {
        &self.0
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        // SAFETY: the field is taken exactly once, here, and never read again.
        let mut obj = Some(unsafe { ManuallyDrop::take(&mut self.0) });
        if thread::attach(|_| drop(obj.take())).is_none() {
            std::mem::forget(obj);
        }
    }
}
