//! A Python exception as text, in the form nbdkit's own Python plugin
//! logs it: `traceback.format_exception(...)` joined by single spaces.

use nbdkit_plugin::backend::ScriptError;
use rustpython_vm::builtins::{PyBaseExceptionRef, PyStr};
use rustpython_vm::{AsObject, PyResult, VirtualMachine};

/// Render `exc` as a [`ScriptError::Exception`].
pub(crate) fn render(vm: &VirtualMachine, exc: PyBaseExceptionRef) -> ScriptError {
    let kind = exc.class().name().to_string();
    let message = exc.as_object().str(vm).map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let traceback = format_traceback(vm, &exc).unwrap_or_else(|_| message.clone());
    ScriptError::Exception { traceback, kind, message }
}

fn format_traceback(vm: &VirtualMachine, exc: &PyBaseExceptionRef) -> PyResult<String> {
    let tb = exc.__traceback__().map_or_else(|| vm.ctx.none(), Into::into);
    let lines = vm
        .import("traceback", 0)?
        .get_attr("format_exception", vm)?
        .call((exc.class().to_owned(), exc.clone(), tb), vm)?;
    let joined = vm.ctx.new_str(" ").as_object().get_attr("join", vm)?.call((lines,), vm)?;
    let joined = joined.downcast::<PyStr>().map_err(|_| vm.new_type_error("str.join did not return a str"))?;
    Ok(joined.to_string_lossy().into_owned())
}
