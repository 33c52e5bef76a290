//! The interpreter: start, run the script, look up and call functions.

use nbdkit_plugin::backend::{
    Arg, Convert, Global, Implementation, MainScript, ScriptBackend, ScriptError, StartOptions,
};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::thread::{keep_thread_state, FINALIZED};
use crate::values::Cx;
use crate::view::LentView;
use crate::{exception, module};

/// No callback passes more arguments than this.
const MAX_ARGS: usize = 6;

pub struct CPython {
    /// `__main__.__dict__`: where the script's callbacks live.
    globals: Py<PyDict>,
    /// The main thread's state, detached after start; needed again after
    /// a fork and at finalization.
    main_tstate: MainThreadState,
    /// The process that started the interpreter (to recognise a fork).
    pid: libc::pid_t,
}

struct MainThreadState(*mut ffi::PyThreadState);
// SAFETY: the pointer is only dereferenced by CPython, on the main
// thread, at after_fork and finalize, which nbdkit calls from there.
unsafe impl Send for MainThreadState {}
// SAFETY: as above; it is never written after start.
unsafe impl Sync for MainThreadState {}

impl ScriptBackend for CPython {
    type Object = Py<PyAny>;

    fn start(options: StartOptions) -> Result<Self, ScriptError> {
        // SAFETY: called once, from nbdkit's load on the main thread,
        // before any other Python use. initsigs = 0: nbdkit owns signals.
        // Afterwards the main thread detaches, as every other thread does
        // between calls.
        let main_tstate = unsafe {
            if ffi::Py_IsInitialized() == 0 {
                pre_initialize();
                ffi::Py_InitializeEx(0);
            }
            ffi::PyEval_SaveThread()
        };
        // pyo3 sees the interpreter running and does nothing more.
        Python::initialize();
        let globals = Python::attach(|py| -> PyResult<Py<PyDict>> {
            module::install(py, options.module)?;
            let source = std::ffi::CString::new(options.bootstrap)?;
            py.run(&source, Some(&pyo3::types::PyDict::new(py)), None)?;
            Ok(py.import("__main__")?.dict().unbind())
        })
        .map_err(|e| Python::attach(|py| exception::render(py, e)))?;
        Ok(CPython { globals, main_tstate: MainThreadState(main_tstate), pid: std::process::id() as libc::pid_t })
    }

    fn implementation(&self) -> Implementation {
        Python::attach(|py| {
            let v = py.version_info();
            Implementation {
                name: "CPython".into(),
                version: format!("{}.{}.{}", v.major, v.minor, v.patch),
                extra: vec![("python_pep_384_abi_version".into(), ffi::PYTHON_ABI_VERSION.to_string())],
            }
        })
    }

    fn run_main(&self, script: &MainScript<'_>) -> Result<(), ScriptError> {
        keep_thread_state();
        Python::attach(|py| {
            let run = || -> PyResult<()> {
                let sys = py.import("sys")?;
                sys.setattr("argv", script.argv.to_vec())?;
                if let Some(dir) = script.search_dir {
                    // A str: sys.path ignores entries of other types (a PosixPath).
                    sys.getattr("path")?.call_method1("insert", (0, dir.to_string_lossy()))?;
                }
                let globals = self.globals.bind(py);
                globals.set_item("__file__", script.path)?;
                let builtins = py.import("builtins")?;
                let code = builtins
                    .getattr("compile")?
                    .call1((pyo3::types::PyBytes::new(py, script.source), script.path, "exec"))?;
                builtins.getattr("exec")?.call1((code, globals))?;
                Ok(())
            };
            run().map_err(|e| exception::render(py, e))
        })
    }

    fn callable(&self, name: &str) -> Global<Self::Object> {
        keep_thread_state();
        Python::attach(|py| match self.globals.bind(py).get_item(name) {
            Ok(Some(v)) if v.is_callable() => Global::Callable(v.unbind()),
            Ok(Some(_)) => Global::NotCallable,
            _ => Global::Missing,
        })
    }

    fn global<C: Convert>(&self, name: &str, convert: C) -> Option<Result<C::Output, ScriptError>> {
        keep_thread_state();
        Python::attach(|py| {
            let v = self.globals.bind(py).get_item(name).ok().flatten()?;
            Some(convert.convert(&Cx(py), v))
        })
    }

    fn call<C: Convert>(
        &self,
        f: &Self::Object,
        args: &mut [Arg<'_, Self::Object>],
        convert: C,
    ) -> Result<C::Output, ScriptError> {
        keep_thread_state();
        Python::attach(|py| {
            let result = invoke(py, f, args)?;
            convert.convert(&Cx(py), result)
        })
    }

    fn call_keep(&self, f: &Self::Object, args: &mut [Arg<'_, Self::Object>]) -> Result<Self::Object, ScriptError> {
        keep_thread_state();
        Python::attach(|py| Ok(invoke(py, f, args)?.unbind()))
    }

    fn release(&self, object: Self::Object) {
        keep_thread_state();
        Python::attach(|py| object.drop_ref(py));
    }

    fn flush_stdout(&self) {
        keep_thread_state();
        Python::attach(|py| {
            let flushed = py.import("sys").and_then(|sys| sys.getattr("stdout")?.call_method0("flush"));
            if let Err(e) = flushed {
                nbdkit_plugin::log::debug(&format!("flushing sys.stdout: {e}"));
            }
        });
    }

    fn finalize(&self) {
        FINALIZED.store(true, std::sync::atomic::Ordering::Release);
        // SAFETY: nbdkit unloads on the main thread after all worker
        // threads ended; re-attaching the main thread state and
        // finalizing is the documented shutdown sequence. Python is not
        // used after this.
        unsafe {
            ffi::PyEval_RestoreThread(self.main_tstate.0);
            ffi::Py_FinalizeEx();
        }
    }

    fn after_fork_in_child(&self) {
        if std::process::id() as libc::pid_t == self.pid {
            return;
        }
        // SAFETY: we are the only thread of a freshly forked child
        // (nbdkit forks before starting worker threads), on the thread
        // that started Python. Making the main thread state current and
        // calling PyOS_AfterFork_Child re-creates the interpreter lock
        // held by us, so a lock held by a parent thread that does not
        // exist here cannot deadlock the child; then we detach again.
        unsafe {
            ffi::PyThreadState_Swap(self.main_tstate.0);
            ffi::PyOS_AfterFork_Child();
            ffi::PyEval_SaveThread();
        }
    }
}

/// UTF-8 mode (PEP 540) unless `PYTHONUTF8=0`: text files and standard
/// streams are UTF-8 whatever the locale, as on the RustPython build. nbdkit
/// is often started with the C locale (services, CI), where CPython's
/// embedded default would be ASCII. No locale coercion: nbdkit's own
/// environment and locale are left alone.
///
/// # Safety
/// Before `Py_InitializeEx`, on the thread that will initialize Python.
unsafe fn pre_initialize() {
    let mut pre = std::mem::MaybeUninit::<ffi::PyPreConfig>::uninit();
    // SAFETY: InitPythonConfig fills every field of the struct.
    let mut pre = unsafe {
        ffi::PyPreConfig_InitPythonConfig(pre.as_mut_ptr());
        pre.assume_init()
    };
    pre.parse_argv = 0;
    pre.coerce_c_locale = 0;
    pre.utf8_mode = if std::env::var_os("PYTHONUTF8").is_some_and(|v| v == "0") { 0 } else { 1 };
    // SAFETY: a fully initialized config, before Python is initialized; a
    // failure leaves Python to pre-initialize itself with its defaults.
    let status = unsafe { ffi::Py_PreInitialize(&pre) };
    // SAFETY: reading the status just returned.
    if unsafe { ffi::PyStatus_Exception(status) } != 0 {
        nbdkit_plugin::log::debug("Py_PreInitialize failed; Python's default text encoding applies");
    }
}

/// Something an argument needs kept alive until the call returns.
enum Held<'py> {
    Object(Bound<'py, PyAny>),
    View(LentView<'py>),
}

/// `f(*args)` by vectorcall: no argument tuple, no per-call heap
/// allocation on our side. Views are released before this returns.
fn invoke<'py>(
    py: Python<'py>,
    f: &Py<PyAny>,
    args: &mut [Arg<'_, Py<PyAny>>],
) -> Result<Bound<'py, PyAny>, ScriptError> {
    assert!(args.len() <= MAX_ARGS, "at most {MAX_ARGS} arguments");
    let mut held: [Option<Held<'py>>; MAX_ARGS] = Default::default();
    let mut ptrs = [std::ptr::null_mut::<ffi::PyObject>(); MAX_ARGS];
    for (i, arg) in args.iter_mut().enumerate() {
        let h = match arg {
            Arg::Object(o) => {
                ptrs[i] = o.as_ptr();
                continue;
            }
            // SAFETY: the bool singletons are immortal; borrowed pointers
            // are what vectorcall takes.
            Arg::Bool(b) => {
                ptrs[i] = unsafe { if *b { ffi::Py_True() } else { ffi::Py_False() } };
                continue;
            }
            Arg::Int(n) => {
                let Ok(n) = n.into_pyobject(py);
                Held::Object(n.into_any())
            }
            Arg::Str(s) => Held::Object(PyString::new(py, s).into_any()),
            Arg::Bytes(b) => Held::View(LentView::read_only(py, b).map_err(|e| exception::render(py, e))?),
            Arg::BytesMut(b) => Held::View(LentView::writable(py, b).map_err(|e| exception::render(py, e))?),
        };
        ptrs[i] = match &h {
            Held::Object(o) => o.as_ptr(),
            Held::View(v) => v.as_ptr(),
        };
        held[i] = Some(h);
    }
    // SAFETY: f is a live callable; ptrs[..len] are live borrowed
    // references (kept alive by `args` and `held`); no keyword names.
    let r = unsafe { ffi::PyObject_Vectorcall(f.as_ptr(), ptrs.as_ptr(), args.len(), std::ptr::null_mut()) };
    let result = if r.is_null() {
        // Render the exception now and let it go: taking views back must
        // not run with an exception set, and the traceback's frames still
        // hold the script's reference to the buffer until they are freed.
        Err(exception::render(py, PyErr::fetch(py)))
    } else {
        // SAFETY: vectorcall returned a new, non-NULL reference.
        Ok(unsafe { Bound::from_owned_ptr(py, r) })
    };
    // Take lent memory back now, before the result is looked at.
    let mut kept = Ok(());
    for h in held.into_iter().flatten() {
        if let Held::View(v) = h {
            kept = kept.and(v.finish());
        }
    }
    let result = result?;
    kept.map_err(ScriptError::Invalid)?;
    Ok(result)
}

