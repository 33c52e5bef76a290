//! The one place that picks the interpreter: a cargo feature.

use crate::plugin::{Instance, PythonPlugin};

cfg_if::cfg_if! {
    if #[cfg(feature = "cpython")] {
        pub type Selected = backend_cpython::CPython;
    } else if #[cfg(feature = "rustpython")] {
        pub type Selected = backend_rustpython::RustPython;
    } else {
        compile_error!("enable one backend feature: `cpython` or `rustpython`");
    }
}

/// The plugin instance: nbdkit's callbacks carry no user data.
pub static PLUGIN: PythonPlugin<Selected> = PythonPlugin::new();

impl Instance for PythonPlugin<Selected> {
    fn instance() -> &'static Self {
        &PLUGIN
    }
}
