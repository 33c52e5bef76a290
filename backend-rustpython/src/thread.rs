//! The interpreter, and one VM handle per OS thread.
//!
//! RustPython's `Interpreter` is `Send` but not `Sync`: it lives here
//! behind a mutex and is used for two things only, making a VM handle for
//! a thread that has none (`VirtualMachine::new_thread`) and finalizing.
//! Every call into Python, on nbdkit's main thread as on its workers, runs
//! on the calling thread's own handle, made on its first use and kept in
//! thread-local storage until the thread ends. There is no global lock:
//! handles of different threads run Python at the same time.
//!
//! Thread exit needs care. When a thread ends, glibc runs its TLS
//! destructors last-registered first. RustPython keeps per-thread state in
//! TLS too: the VM stack and the deallocation "trashcan" (used by every
//! object deallocation), its free lists of dead objects, and the
//! per-thread dicts of `threading.local` (whose destructor deallocates
//! objects). If the trashcan's TLS were torn down before the
//! `threading.local` dicts, that deallocation would panic in a TLS
//! destructor and abort nbdkit. So a new handle first *warms up*
//! RustPython's TLS (enters the VM, deallocates objects of the free-list
//! types, see [`freelists`]) and only then registers our own TLS slot: at
//! exit our handle and anything registered later go first, while the
//! state they need is still there; our handle drops what it kept and
//! empties the free lists of what they would leak.

use std::cell::{Cell, OnceCell};
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use rustpython_vm::vm::thread::{cleanup_current_thread_frames, ThreadedVirtualMachine};
use rustpython_vm::{Interpreter, VirtualMachine};

use crate::{freelists, view};

/// The interpreter while it runs: `None` before start and after finalize.
static INTERPRETER: Mutex<Option<Interpreter>> = Mutex::new(None);

/// Set when finalization starts: handles and kept objects must not be
/// touched any more, only leaked.
static FINALIZED: AtomicBool = AtomicBool::new(false);

/// This thread's VM handle. Dropped when the thread ends.
struct ThreadVm {
    handle: ManuallyDrop<ThreadedVirtualMachine>,
}

impl Drop for ThreadVm {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| c.set(std::ptr::null()));
        let _ = EXITED.try_with(|e| e.set(true));
        if FINALIZED.load(Ordering::Acquire) {
            // The interpreter is gone: its objects are leaked, not freed.
            return;
        }
        // While attached: drop this thread's spare view, unregister the
        // thread (sys._current_frames), empty the free lists last (after
        // everything else that frees objects); then free the handle.
        self.handle.run(|vm| {
            view::drop_spare();
            cleanup_current_thread_frames(vm);
            freelists::flush(vm);
        });
        // SAFETY: the handle is not used after this point (the field is
        // never read again, and CURRENT no longer points at us).
        unsafe { ManuallyDrop::drop(&mut self.handle) };
    }
}

thread_local! {
    /// Owns the handle; registered (first touched) only after warm-up.
    static HANDLE: OnceCell<ThreadVm> = const { OnceCell::new() };
    /// Points into `HANDLE` once it is set: the fast path reads only this
    /// (a TLS slot without destructor, so reading it registers nothing).
    static CURRENT: Cell<*const ThreadVm> = const { Cell::new(std::ptr::null()) };
    /// Set when the handle is destroyed: the thread is ending and may not
    /// attach again (RustPython's own TLS may be gone).
    static EXITED: Cell<bool> = const { Cell::new(false) };
}

/// Install the interpreter that [`attach`] uses.
pub(crate) fn install(interp: Interpreter) {
    *lock() = Some(interp);
}

/// Take the interpreter out for finalization; from now on [`attach`]
/// answers `None` and kept objects are leaked.
pub(crate) fn take_for_finalize() -> Option<Interpreter> {
    FINALIZED.store(true, Ordering::Release);
    lock().take()
}

fn lock() -> std::sync::MutexGuard<'static, Option<Interpreter>> {
    // A panic while holding the lock cannot leave the Option half-made.
    INTERPRETER.lock().unwrap_or_else(|p| p.into_inner())
}

/// Run `f` with this thread attached to the interpreter, through the
/// thread's own VM handle (made now if the thread has none). `None` if
/// the interpreter is not running or the thread is exiting. Nests: a
/// call from inside `f` reuses the same handle.
pub(crate) fn attach<R>(f: impl FnOnce(&VirtualMachine) -> R) -> Option<R> {
    if FINALIZED.load(Ordering::Acquire) {
        return None;
    }
    let mut vm = CURRENT.with(Cell::get);
    if vm.is_null() {
        if EXITED.with(Cell::get) {
            return None;
        }
        vm = make_handle()?;
    }
    // SAFETY: CURRENT points at this thread's ThreadVm inside HANDLE,
    // which stays put until the thread's TLS is destroyed; its destructor
    // clears CURRENT first, so a non-null pointer is live.
    let vm = unsafe { &*vm };
    Some(vm.handle.run(f))
}

/// Make and keep this thread's handle; see the module docs for the order.
fn make_handle() -> Option<*const ThreadVm> {
    let handle = lock().as_ref()?.enter(|vm| vm.new_thread());
    // Warm-up: entering registers the VM stack's TLS; deallocating
    // objects registers the trashcan's and the free lists'.
    handle.run(freelists::register);
    HANDLE
        .try_with(|cell| {
            let tvm = cell.get_or_init(|| ThreadVm { handle: ManuallyDrop::new(handle) });
            let ptr = tvm as *const ThreadVm;
            CURRENT.with(|c| c.set(ptr));
            ptr
        })
        .ok()
}
