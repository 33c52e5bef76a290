//! The interpreter: start, run the script, look up and call functions.

use nbdkit_plugin::backend::{
    Arg, Convert, Global, Implementation, MainScript, ScriptBackend, ScriptError, StartOptions,
};
use rustpython_vm::builtins::PyDict;
use rustpython_vm::common::rc::PyRc;
use rustpython_vm::{Interpreter, PyObjectRef, PyResult, Settings, VirtualMachine};

use crate::view::LentView;
use crate::object::Kept;
use crate::values::Cx;
use crate::{exception, fastcopy, lent, module, posix, thread, view};

/// No callback passes more arguments than this.
const MAX_ARGS: usize = 6;

pub struct RustPython {
    /// `__main__.__dict__`: where the script's callbacks live.
    globals: Kept,
    /// The process that started the interpreter (to recognise a fork).
    pid: u32,
}

/// What a backend method says when the interpreter is not running (never
/// started, finalized) or the calling thread is ending.
fn not_running() -> ScriptError {
    ScriptError::Invalid("the Python interpreter is not running".into())
}

/// The settings of an embedded interpreter: nbdkit owns the signals;
/// no `site` (there is no RustPython site-packages), no bytecode files
/// written next to scripts; `PYTHONPATH` is honoured, as CPython does.
/// UTF-8 mode unless `PYTHONUTF8=0`, as the `rustpython` binary decides
/// (its locale support is incomplete; CPython would be in UTF-8 mode in
/// the C locale, and read UTF-8 from a UTF-8 locale).
fn settings() -> Settings {
    let mut settings = Settings::default();
    settings.install_signal_handlers = false;
    settings.import_site = false;
    settings.user_site_directory = false;
    settings.write_bytecode = false;
    settings.utf8_mode = if std::env::var_os("PYTHONUTF8").is_some_and(|v| v == "0") { 0 } else { 1 };
    if let Some(path) = std::env::var_os("PYTHONPATH") {
        settings.path_list = std::env::split_paths(&path).filter_map(|p| p.into_os_string().into_string().ok()).collect();
    }
    settings
}

/// Build the interpreter as `rustpython::InterpreterBuilderExt::init_stdlib`
/// does with `freeze-stdlib`: the native modules, the frozen pure-Python
/// standard library, `sys._stdlib_dir`; the module search path is only
/// what `PYTHONPATH` adds (the standard library needs no directory).
fn build() -> Interpreter {
    let builder = Interpreter::builder(settings());
    let defs = rustpython_stdlib::stdlib_module_defs(&builder.ctx);
    builder
        .add_native_modules(&defs)
        .add_frozen_modules(rustpython_pylib::FROZEN_STDLIB)
        .init_hook(|vm| {
            let state = PyRc::get_mut(&mut vm.state).expect("the VM state is not shared during init");
            state.config.paths.stdlib_dir = Some(rustpython_pylib::LIB_PATH.to_owned());
            state.config.paths.module_search_paths = state.config.settings.path_list.clone();
        })
        .build()
}

impl RustPython {
    fn attach<R>(&self, f: impl FnOnce(&VirtualMachine) -> Result<R, ScriptError>) -> Result<R, ScriptError> {
        thread::attach(f).unwrap_or_else(|| Err(not_running()))
    }

    fn global_value(&self, vm: &VirtualMachine, name: &str) -> Option<PyObjectRef> {
        let globals = self.globals.get().downcast_ref::<PyDict>()?;
        globals.get_item_opt(name, vm).ok().flatten()
    }
}

impl ScriptBackend for RustPython {
    type Object = Kept;

    fn start(options: StartOptions) -> Result<Self, ScriptError> {
        let interp = build();
        let globals = interp.enter(|vm| {
            let start = || -> PyResult<PyObjectRef> {
                lent::init_type();
                fastcopy::install(vm);
                module::install(vm, options.module)?;
                posix::install(vm)?;
                let main = vm.new_scope_with_main()?;
                let scope = vm.new_scope_with_builtins();
                vm.run_string(scope, options.bootstrap, "<bootstrap>".to_owned())?;
                Ok(main.globals.into())
            };
            start().map(Kept::new).map_err(|e| exception::render(vm, e))
        })?;
        thread::install(interp);
        Ok(RustPython { globals, pid: std::process::id() })
    }

    fn implementation(&self) -> Implementation {
        use rustpython_vm::version::{MAJOR, MICRO, MINOR};
        Implementation { name: "RustPython".into(), version: format!("{MAJOR}.{MINOR}.{MICRO}"), extra: Vec::new() }
    }

    fn run_main(&self, script: &MainScript<'_>) -> Result<(), ScriptError> {
        self.attach(|vm| {
            let run = || -> PyResult<()> {
                let argv = script.argv.iter().map(|a| vm.ctx.new_str(a.as_str()).into()).collect();
                vm.sys_module.set_attr("argv", vm.ctx.new_list(argv), vm)?;
                if let Some(dir) = script.search_dir {
                    vm.insert_sys_path(vm.ctx.new_str(dir.to_string_lossy().into_owned()).into())?;
                }
                let globals = self.globals.get();
                globals.set_item("__file__", vm.ctx.new_str(script.path).into(), vm)?;
                let compile = vm.builtins.get_attr("compile", vm)?;
                let source = vm.ctx.new_bytes(script.source.to_vec());
                let code = compile.call((source, script.path, "exec"), vm)?;
                vm.builtins.get_attr("exec", vm)?.call((code, globals.clone()), vm)?;
                Ok(())
            };
            run().map_err(|e| exception::render(vm, e))
        })
    }

    fn callable(&self, name: &str) -> Global<Self::Object> {
        thread::attach(|vm| match self.global_value(vm, name) {
            Some(v) if v.is_callable() => Global::Callable(Kept::new(v)),
            Some(_) => Global::NotCallable,
            None => Global::Missing,
        })
        .unwrap_or(Global::Missing)
    }

    fn global<C: Convert>(&self, name: &str, convert: C) -> Option<Result<C::Output, ScriptError>> {
        thread::attach(|vm| {
            let v = self.global_value(vm, name)?;
            Some(convert.convert(&Cx(vm), v))
        })
        .flatten()
    }

    fn call<C: Convert>(
        &self,
        f: &Self::Object,
        args: &mut [Arg<'_, Self::Object>],
        convert: C,
    ) -> Result<C::Output, ScriptError> {
        self.attach(|vm| {
            let result = invoke(vm, f, args)?;
            convert.convert(&Cx(vm), result)
        })
    }

    fn call_keep(&self, f: &Self::Object, args: &mut [Arg<'_, Self::Object>]) -> Result<Self::Object, ScriptError> {
        self.attach(|vm| invoke(vm, f, args).map(Kept::new))
    }

    fn release(&self, object: Self::Object) {
        // Kept's Drop attaches this thread.
        drop(object);
    }

    fn flush_stdout(&self) {
        let flushed = self.attach(|vm| {
            let flush = || vm.sys_module.get_attr("stdout", vm)?.get_attr("flush", vm)?.call((), vm);
            flush().map(drop).map_err(|e| exception::render(vm, e))
        });
        if let Err(e) = flushed {
            nbdkit_plugin::log::debug(&format!("flushing sys.stdout: {}", e.render()));
        }
    }

    fn finalize(&self) {
        // Threads still holding handles (none: nbdkit unloads after its
        // workers ended) would leak them. Finalizing flushes stdio, joins
        // non-daemon threads, runs atexit and frees the modules, as
        // Py_FinalizeEx does.
        thread::attach(|_| view::drop_spare());
        if let Some(interp) = thread::take_for_finalize() {
            interp.finalize(None);
        }
    }

    fn after_fork_in_child(&self) {
        if std::process::id() == self.pid {
            return;
        }
        // nbdkit forks before it starts worker threads, on the thread that
        // started Python. As CPython's PyOS_AfterFork_Child: this thread
        // becomes the only one RustPython knows of, and the callbacks of
        // os.register_at_fork(after_in_child=...) run (threading's among
        // them). RustPython's own lock re-initialisation is private to its
        // os.fork; a lock held by another Python thread at fork time stays
        // held in the child.
        thread::attach(|vm| {
            rustpython_vm::vm::thread::reinit_frame_slot_after_fork(vm);
            let callbacks: Vec<PyObjectRef> = vm.state.after_forkers_child.lock().clone();
            for callback in callbacks {
                if let Err(e) = callback.call((), vm) {
                    vm.run_unraisable(e, Some("Exception ignored in".to_owned()), callback);
                }
            }
        });
    }
}

/// `f(*args)`, by vectorcall (RustPython's fast path for a plain
/// function: arguments moved straight into the frame). Lent memory is
/// taken back before this returns, whatever the outcome; the result is
/// looked at only after that.
fn invoke(vm: &VirtualMachine, f: &Kept, args: &mut [Arg<'_, Kept>]) -> Result<PyObjectRef, ScriptError> {
    assert!(args.len() <= MAX_ARGS, "at most {MAX_ARGS} arguments");
    let mut views: [Option<LentView<'_>>; MAX_ARGS] = Default::default();
    let mut values = Vec::with_capacity(args.len());
    for (i, arg) in args.iter_mut().enumerate() {
        let value = match arg {
            Arg::Object(o) => o.get().clone(),
            Arg::Bool(b) => vm.ctx.new_bool(*b).into(),
            Arg::Int(n) => vm.ctx.new_int(*n).into(),
            Arg::Str(s) => vm.ctx.new_str(*s).into(),
            Arg::Bytes(b) => {
                let view = LentView::read_only(vm, b).map_err(|e| exception::render(vm, e))?;
                views[i].insert(view).object()
            }
            Arg::BytesMut(b) => {
                let view = LentView::writable(vm, b).map_err(|e| exception::render(vm, e))?;
                views[i].insert(view).object()
            }
        };
        values.push(value);
    }
    let nargs = values.len();
    // An exception is rendered, and dropped, before the memory is taken
    // back: its traceback's frames hold the call's arguments, and would
    // otherwise count as the script keeping the buffer. (Rendering runs
    // Python while the memory is still lent, as the call itself did.)
    let result = f.get().vectorcall(values, nargs, None, vm).map_err(|e| exception::render(vm, e));
    views.into_iter().flatten().for_each(LentView::finish);
    result
}
