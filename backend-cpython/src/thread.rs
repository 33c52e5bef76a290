//! One Python thread state per OS thread, made on the thread's first
//! call and kept until the thread ends.
//!
//! `Python::attach` uses `PyGILState_Ensure`/`Release`. When a thread
//! has no thread state, that pair creates one and destroys it again on
//! every call (about 8 us on Python 3.11: the frame stack is mapped and
//! unmapped each time). Holding one extra `PyGILState_Ensure` for the
//! life of the thread keeps the state, so each later attach is just a
//! lock hand-over.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::ffi;

/// Set once the interpreter is finalized: kept states must not be
/// touched any more (their memory went with the interpreter).
pub(crate) static FINALIZED: AtomicBool = AtomicBool::new(false);

/// A thread state kept alive by one outstanding `PyGILState_Ensure`.
struct KeptState {
    gstate: ffi::PyGILState_STATE,
    tstate: *mut ffi::PyThreadState,
}

impl Drop for KeptState {
    fn drop(&mut self) {
        if FINALIZED.load(Ordering::Acquire) {
            return;
        }
        // SAFETY: the interpreter is alive (not finalized) and this thread
        // detached its state in `keep_thread_state`; re-attaching it and
        // releasing the outstanding ensure drops the counter to zero,
        // which clears and deletes the state and releases the lock.
        unsafe {
            ffi::PyEval_RestoreThread(self.tstate);
            ffi::PyGILState_Release(self.gstate);
        }
    }
}

thread_local! {
    static KEPT: RefCell<Option<KeptState>> = const { RefCell::new(None) };
}

/// Make sure this thread keeps its Python thread state. Call it while
/// the thread is NOT attached.
pub(crate) fn keep_thread_state() {
    // `try_with` fails only while the thread is exiting: then there is
    // nothing worth keeping.
    let _ = KEPT.try_with(|kept| {
        let mut kept = kept.borrow_mut();
        if kept.is_none() {
            // SAFETY: the interpreter is initialized (callers run after
            // `CPython::start`) and this thread is not attached; the
            // ensure attaches it and SaveThread detaches it again,
            // leaving the thread state allocated with a counter of 1.
            let state = unsafe {
                let gstate = ffi::PyGILState_Ensure();
                let tstate = ffi::PyEval_SaveThread();
                KeptState { gstate, tstate }
            };
            *kept = Some(state);
        }
    });
}
