//! The `nbdkit` module, built from the plugin's [`ModuleSpec`]: each
//! function checks its arguments against the declared [`Param`]s, calls
//! into Rust, and turns a [`ModError`] into the matching exception.

use std::ffi::CString;

use nbdkit_plugin::backend::{ModArg, ModError, ModFunction, ModValue, ModuleSpec, Param};
use pyo3::exceptions::{PyNotImplementedError, PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyDict, PyTuple};
use pyo3::IntoPyObjectExt;

/// Create the module and register it in `sys.modules`, so that
/// `import nbdkit` finds it.
pub(crate) fn install(py: Python<'_>, spec: &'static ModuleSpec) -> PyResult<()> {
    let m = PyModule::new(py, spec.name)?;
    m.setattr("__doc__", spec.doc)?;
    for f in spec.functions {
        let name = leak(f.name);
        let doc = leak(f.doc);
        let func = PyCFunction::new_closure(py, Some(name), Some(doc), move |args, kwargs| call(f, args, kwargs))?;
        m.add(f.name, func)?;
    }
    for (name, value) in spec.constants {
        m.add(*name, *value)?;
    }
    py.import("sys")?.getattr("modules")?.set_item(spec.name, m)?;
    Ok(())
}

/// pyo3 wants `&'static CStr` names; the module lives for the process.
fn leak(s: &str) -> &'static std::ffi::CStr {
    Box::leak(CString::new(s).expect("module names have no NUL").into_boxed_c_str())
}

fn call(f: &'static ModFunction, args: &Bound<'_, PyTuple>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Py<PyAny>> {
    let py = args.py();
    if kwargs.is_some_and(|k| !k.is_empty()) {
        return Err(PyTypeError::new_err(format!("{}() takes no keyword arguments", f.name)));
    }
    let (max, min) = (f.params.len(), f.params.len() - f.optional);
    if args.len() < min || args.len() > max {
        let expected = if min == max { format!("{max}") } else { format!("{min} to {max}") };
        return Err(PyTypeError::new_err(format!(
            "{}() takes {expected} argument{} ({} given)",
            f.name,
            if max == 1 { "" } else { "s" },
            args.len()
        )));
    }
    let mut values = Vec::with_capacity(args.len());
    for (i, (arg, param)) in args.iter().zip(f.params).enumerate() {
        values.push(match param {
            Param::Str => ModArg::Str(arg.extract::<String>().map_err(|_| wrong_type(f, i, "str", &arg))?),
            Param::Int => ModArg::Int(arg.extract::<i64>().map_err(|_| wrong_type(f, i, "int", &arg))?),
            Param::Bool => ModArg::Bool(arg.is_truthy()?),
        });
    }
    // Server functions may block (nanosleep): let other threads run.
    let result = py.detach(|| (f.call)(&values));
    match result {
        Ok(ModValue::None) => Ok(py.None()),
        Ok(ModValue::Bool(b)) => b.into_py_any(py),
        Ok(ModValue::Int(i)) => i.into_py_any(py),
        Ok(ModValue::Float(x)) => x.into_py_any(py),
        Ok(ModValue::Str(s)) => s.into_py_any(py),
        Ok(ModValue::Ints(v)) => pyo3::types::PyTuple::new(py, v)?.into_py_any(py),
        Ok(ModValue::Bytes(b)) => pyo3::types::PyBytes::new(py, &b).into_py_any(py),
        Err(ModError::Type(m)) => Err(PyTypeError::new_err(m)),
        Err(ModError::Value(m)) => Err(PyValueError::new_err(m)),
        Err(ModError::Runtime(m)) => Err(PyRuntimeError::new_err(m)),
        Err(ModError::NotImplemented(m)) => Err(PyNotImplementedError::new_err(m)),
        Err(ModError::Os(errno, m)) => Err(PyOSError::new_err((errno, m))),
    }
}

fn wrong_type(f: &ModFunction, i: usize, want: &str, got: &Bound<'_, PyAny>) -> PyErr {
    let got = got.get_type().name().map(|n| n.to_string()).unwrap_or_default();
    PyTypeError::new_err(format!("{}() argument {} must be {want}, not {got}", f.name, i + 1))
}
