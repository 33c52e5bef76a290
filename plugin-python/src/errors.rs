//! From a script failure to what nbdkit reports: the log line names the
//! script and the callback; the client gets the errno the script gave
//! `nbdkit.set_error`, else EIO.

use std::cell::Cell;

use nbdkit_plugin::backend::ScriptError;
use nbdkit_plugin::Error;

thread_local! {
    /// The errno the script passed to `nbdkit.set_error` during the
    /// current callback on this thread (0: none).
    static LAST_ERROR: Cell<i32> = const { Cell::new(0) };
}

/// Called by `nbdkit.set_error`.
pub fn record_errno(errno: i32) {
    LAST_ERROR.with(|e| e.set(errno));
    nbdkit_plugin::server::set_error(errno);
}

/// Forget any errno of an earlier callback on this thread.
pub fn clear_errno() {
    LAST_ERROR.with(|e| e.set(0));
}

/// The errno the script set during this callback, if any.
pub fn recorded_errno() -> Option<i32> {
    Some(LAST_ERROR.with(Cell::get)).filter(|&e| e != 0)
}

/// The nbdkit error for `err`, raised in `callback` of `script`.
pub fn from_script(script: &str, callback: &str, err: &ScriptError) -> Error {
    Error::new(
        recorded_errno().unwrap_or(libc::EIO),
        format!("{script}: {callback}: error: {}", err.render()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exception() -> ScriptError {
        ScriptError::Exception {
            traceback: "Traceback (most recent call last):\n ValueError: boom\n".into(),
            kind: "ValueError".into(),
            message: "boom".into(),
        }
    }

    #[test]
    fn eio_unless_the_script_set_an_errno() {
        clear_errno();
        let e = from_script("t.py", "pread", &exception());
        assert_eq!(e.errno(), libc::EIO);
        assert!(e.message().unwrap().starts_with("t.py: pread: error: Traceback"));
    }

    #[test]
    fn set_error_reaches_the_client() {
        clear_errno();
        record_errno(libc::ENOSPC);
        assert_eq!(from_script("t.py", "pwrite", &exception()).errno(), libc::ENOSPC);
        clear_errno();
        assert_eq!(recorded_errno(), None);
    }
}
