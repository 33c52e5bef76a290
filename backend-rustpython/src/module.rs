//! The `nbdkit` module, built from the plugin's [`ModuleSpec`]: each
//! function checks its arguments against the declared [`Param`]s, calls
//! into Rust, and turns a [`ModError`] into the matching exception, with
//! the messages of the CPython backend.

use nbdkit_plugin::backend::{ModArg, ModError, ModFunction, ModValue, ModuleSpec, Param};
use rustpython_vm::builtins::{PyBaseExceptionRef, PyStr};
use rustpython_vm::function::{FuncArgs, PyMethodFlags};
use rustpython_vm::vm::thread::allow_threads;
use rustpython_vm::{AsObject, PyObjectRef, PyResult, VirtualMachine};

use crate::values::index_i64;

/// Create the module and register it in `sys.modules`, so that
/// `import nbdkit` finds it.
pub(crate) fn install(vm: &VirtualMachine, spec: &'static ModuleSpec) -> PyResult<()> {
    let m = vm.new_module(spec.name, vm.ctx.new_dict(), Some(vm.ctx.new_str(spec.doc)));
    for f in spec.functions {
        let def = vm.ctx.new_method_def(
            f.name,
            move |args: FuncArgs, vm: &VirtualMachine| call(f, args, vm),
            PyMethodFlags::empty(),
            Some(f.doc),
        );
        m.set_attr(f.name, def.build_function(vm), vm)?;
    }
    for (name, value) in spec.constants {
        m.set_attr(*name, vm.ctx.new_int(*value), vm)?;
    }
    vm.sys_module.get_attr("modules", vm)?.set_item(spec.name, m.into(), vm)
}

fn call(f: &'static ModFunction, args: FuncArgs, vm: &VirtualMachine) -> PyResult {
    if !args.kwargs.is_empty() {
        return Err(vm.new_type_error(format!("{}() takes no keyword arguments", f.name)));
    }
    let given = args.args.len();
    let (max, min) = (f.params.len(), f.params.len() - f.optional);
    if given < min || given > max {
        let expected = if min == max { format!("{max}") } else { format!("{min} to {max}") };
        return Err(vm.new_type_error(format!(
            "{}() takes {expected} argument{} ({given} given)",
            f.name,
            if max == 1 { "" } else { "s" },
        )));
    }
    let mut values = Vec::with_capacity(given);
    for (i, (arg, param)) in args.args.iter().zip(f.params).enumerate() {
        values.push(match param {
            Param::Str => {
                let s = arg.downcast_ref::<PyStr>().and_then(|s| s.to_str().map(str::to_owned));
                ModArg::Str(s.ok_or_else(|| wrong_type(vm, f, i, "str", arg))?)
            }
            Param::Int => ModArg::Int(index_i64(vm, arg).map_err(|_| wrong_type(vm, f, i, "int", arg))?),
            Param::Bool => ModArg::Bool(arg.clone().try_to_bool(vm)?),
        });
    }
    // Server functions may block (nanosleep): mark the thread detached.
    let result = allow_threads(vm, || (f.call)(&values));
    match result {
        Ok(v) => Ok(to_python(vm, v)),
        Err(e) => Err(to_exception(vm, e)),
    }
}

fn to_python(vm: &VirtualMachine, v: ModValue) -> PyObjectRef {
    match v {
        ModValue::None => vm.ctx.none(),
        ModValue::Bool(b) => vm.ctx.new_bool(b).into(),
        ModValue::Int(i) => vm.ctx.new_int(i).into(),
        ModValue::Float(x) => vm.ctx.new_float(x).into(),
        ModValue::Str(s) => vm.ctx.new_str(s).into(),
        ModValue::Ints(v) => vm.ctx.new_tuple(v.into_iter().map(|i| vm.ctx.new_int(i).into()).collect()).into(),
        ModValue::Bytes(b) => vm.ctx.new_bytes(b).into(),
    }
}

fn to_exception(vm: &VirtualMachine, e: ModError) -> PyBaseExceptionRef {
    match e {
        ModError::Type(m) => vm.new_type_error(m),
        ModError::Value(m) => vm.new_value_error(m),
        ModError::Runtime(m) => vm.new_runtime_error(m),
        ModError::NotImplemented(m) => vm.new_not_implemented_error(m),
        // OSError(errno, strerror): the constructor picks the subclass
        // (FileNotFoundError, ...), as in CPython.
        ModError::Os(errno, m) => {
            let args = vec![vm.ctx.new_int(errno).into(), vm.ctx.new_str(m).into()];
            vm.invoke_exception(vm.ctx.exceptions.os_error.to_owned(), args).unwrap_or_else(|e| e)
        }
    }
}

fn wrong_type(vm: &VirtualMachine, f: &ModFunction, i: usize, want: &str, got: &PyObjectRef) -> PyBaseExceptionRef {
    let got = got.class().name().to_string();
    vm.new_type_error(format!("{}() argument {} must be {want}, not {got}", f.name, i + 1))
}
