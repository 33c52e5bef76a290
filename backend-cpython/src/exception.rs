//! A Python exception as text, in the form nbdkit's own Python plugin
//! logs it: `traceback.format_exception(...)` joined by single spaces.

use nbdkit_plugin::backend::ScriptError;
use pyo3::prelude::*;
use pyo3::types::PyString;

/// Render `err` (already fetched) as a [`ScriptError::Exception`].
pub(crate) fn render(py: Python<'_>, err: PyErr) -> ScriptError {
    let kind = err
        .get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".to_string());
    let value = err.value(py);
    let message = value.str().map(|s| s.to_string()).unwrap_or_default();
    let traceback = format_traceback(py, &err).unwrap_or_else(|_| message.clone());
    ScriptError::Exception { traceback, kind, message }
}

fn format_traceback(py: Python<'_>, err: &PyErr) -> PyResult<String> {
    let lines = py
        .import("traceback")?
        .getattr("format_exception")?
        .call1((err.get_type(py), err.value(py), err.traceback(py)))?;
    Ok(PyString::new(py, " ").call_method1("join", (lines,))?.extract()?)
}
