//! The one place where calls from C enter Rust.
//!
//! Every `extern "C"` callback that [`crate::register`] installs runs its
//! body through [`enter`]: an `Err` is reported to nbdkit (log + errno),
//! a panic becomes an nbdkit error and `EIO`, and the C caller gets the
//! callback's failure value. Nothing unwinds into nbdkit: if reporting
//! itself panicked, [`AbortOnUnwind`] stops the process loudly instead
//! of letting undefined behaviour happen.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

use crate::{log, server, Result};

/// Run `body` for the C callback `callback`; `failed` is what C gets
/// back when it fails (`-1`, `NULL`, ...).
pub(crate) fn enter<R>(callback: &'static str, failed: R, body: impl FnOnce() -> Result<R>) -> R {
    let trap = AbortOnUnwind(callback);
    let body = || {
        #[cfg(feature = "inject-panic")]
        inject::maybe_panic(callback);
        body()
    };
    let r = match panic::catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            e.report();
            failed
        }
        Err(payload) => {
            log::error(&format!(
                "{callback}: internal error in the plugin (a Rust panic): {}",
                panic_message(payload.as_ref())
            ));
            server::set_error(libc::EIO);
            // Dropping the payload runs foreign code; keep it from unwinding.
            drop(panic::catch_unwind(AssertUnwindSafe(move || drop(payload))));
            failed
        }
    };
    std::mem::forget(trap);
    r
}

#[cfg(feature = "inject-panic")]
mod inject {
    use std::sync::OnceLock;

    /// Panic if `NBDKIT_PLUGIN_INJECT_PANIC` names `callback` (or is `*`).
    pub(super) fn maybe_panic(callback: &str) {
        static TARGET: OnceLock<Option<String>> = OnceLock::new();
        let target = TARGET.get_or_init(|| std::env::var("NBDKIT_PLUGIN_INJECT_PANIC").ok());
        if target.as_deref().is_some_and(|t| t == "*" || t.split(',').any(|t| t == callback)) {
            panic!("injected panic in {callback}");
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}

/// Aborts the process if dropped, which only happens while a panic
/// unwinds out of [`enter`]'s error handling: unwinding into C is
/// undefined behaviour, an abort is at least a clear crash.
struct AbortOnUnwind(&'static str);

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        eprintln!("nbdkit-python-plugin: {}: panic while reporting an error; aborting", self.0);
        std::process::abort();
    }
}

#[cfg(all(test, feature = "test-stubs"))]
mod tests {
    use super::*;
    use crate::test_stubs;
    use crate::Error;

    #[test]
    fn ok_passes_through() {
        assert_eq!(enter("t", -1, || Ok(7)), 7);
    }

    #[test]
    fn error_is_reported_with_errno() {
        test_stubs::reset();
        assert_eq!(enter("t", -1, || Err(Error::new(libc::ENOSPC, "full"))), -1);
        let seen = test_stubs::take();
        assert_eq!(seen.errors, vec!["full".to_string()]);
        assert_eq!(seen.last_errno, libc::ENOSPC);
    }

    #[test]
    fn panic_becomes_eio() {
        test_stubs::reset();
        let r: i32 = enter("pread", -1, || panic!("boom {}", 42));
        assert_eq!(r, -1);
        let seen = test_stubs::take();
        assert_eq!(seen.last_errno, libc::EIO);
        assert!(seen.errors[0].contains("pread") && seen.errors[0].contains("boom 42"), "{:?}", seen.errors);
    }
}
