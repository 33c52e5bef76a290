//! The script's callbacks, by name, looked up once when the script loads.

use nbdkit_plugin::backend::{Global, ScriptBackend};

/// Every callback a Python plugin script may define.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cb {
    Load,
    Unload,
    DumpPlugin,
    Config,
    ConfigComplete,
    ThreadModel,
    GetReady,
    AfterFork,
    Cleanup,
    ListExports,
    DefaultExport,
    Preconnect,
    Open,
    Close,
    ExportDescription,
    GetSize,
    BlockSize,
    IsRotational,
    CanWrite,
    CanFlush,
    CanTrim,
    CanZero,
    CanFastZero,
    CanExtents,
    CanFua,
    CanMultiConn,
    CanCache,
    Pread,
    Pwrite,
    Flush,
    Trim,
    Zero,
    Cache,
    Extents,
}

impl Cb {
    pub const ALL: [Cb; 34] = [
        Cb::Load,
        Cb::Unload,
        Cb::DumpPlugin,
        Cb::Config,
        Cb::ConfigComplete,
        Cb::ThreadModel,
        Cb::GetReady,
        Cb::AfterFork,
        Cb::Cleanup,
        Cb::ListExports,
        Cb::DefaultExport,
        Cb::Preconnect,
        Cb::Open,
        Cb::Close,
        Cb::ExportDescription,
        Cb::GetSize,
        Cb::BlockSize,
        Cb::IsRotational,
        Cb::CanWrite,
        Cb::CanFlush,
        Cb::CanTrim,
        Cb::CanZero,
        Cb::CanFastZero,
        Cb::CanExtents,
        Cb::CanFua,
        Cb::CanMultiConn,
        Cb::CanCache,
        Cb::Pread,
        Cb::Pwrite,
        Cb::Flush,
        Cb::Trim,
        Cb::Zero,
        Cb::Cache,
        Cb::Extents,
    ];

    /// The name the script defines it under.
    pub fn name(self) -> &'static str {
        match self {
            Cb::Load => "load",
            Cb::Unload => "unload",
            Cb::DumpPlugin => "dump_plugin",
            Cb::Config => "config",
            Cb::ConfigComplete => "config_complete",
            Cb::ThreadModel => "thread_model",
            Cb::GetReady => "get_ready",
            Cb::AfterFork => "after_fork",
            Cb::Cleanup => "cleanup",
            Cb::ListExports => "list_exports",
            Cb::DefaultExport => "default_export",
            Cb::Preconnect => "preconnect",
            Cb::Open => "open",
            Cb::Close => "close",
            Cb::ExportDescription => "export_description",
            Cb::GetSize => "get_size",
            Cb::BlockSize => "block_size",
            Cb::IsRotational => "is_rotational",
            Cb::CanWrite => "can_write",
            Cb::CanFlush => "can_flush",
            Cb::CanTrim => "can_trim",
            Cb::CanZero => "can_zero",
            Cb::CanFastZero => "can_fast_zero",
            Cb::CanExtents => "can_extents",
            Cb::CanFua => "can_fua",
            Cb::CanMultiConn => "can_multi_conn",
            Cb::CanCache => "can_cache",
            Cb::Pread => "pread",
            Cb::Pwrite => "pwrite",
            Cb::Flush => "flush",
            Cb::Trim => "trim",
            Cb::Zero => "zero",
            Cb::Cache => "cache",
            Cb::Extents => "extents",
        }
    }
}

/// The callables the script defines, indexed by [`Cb`].
pub struct Callbacks<O> {
    table: [Option<O>; Cb::ALL.len()],
}

impl<O> Callbacks<O> {
    /// Look every callback up in the script's globals. A global with a
    /// callback's name that is not callable counts as missing (and is
    /// mentioned in the debug log), as in nbdkit's own plugin.
    pub fn lookup<B: ScriptBackend<Object = O>>(interp: &B) -> Self {
        let table = Cb::ALL.map(|cb| match interp.callable(cb.name()) {
            Global::Callable(f) => Some(f),
            Global::NotCallable => {
                nbdkit_plugin::log::debug(&format!("object {} isn't callable", cb.name()));
                None
            }
            Global::Missing => None,
        });
        Callbacks { table }
    }

    pub fn get(&self, cb: Cb) -> Option<&O> {
        self.table[cb as usize].as_ref()
    }

    pub fn has(&self, cb: Cb) -> bool {
        self.get(cb).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_discriminant_order() {
        for (i, cb) in Cb::ALL.iter().enumerate() {
            assert_eq!(*cb as usize, i, "{cb:?}");
        }
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = Cb::ALL.iter().map(|c| c.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Cb::ALL.len());
    }
}
