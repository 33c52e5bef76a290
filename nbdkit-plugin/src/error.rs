//! Errors that cross back into nbdkit: an errno for the client and a
//! message for the log.

use std::fmt;

/// A failed callback: `errno` goes to the client (through
/// `nbdkit_set_error`), `message` (when there is one) to nbdkit's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    errno: i32,
    message: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with a message for the log; the client sees `errno`.
    pub fn new(errno: i32, message: impl Into<String>) -> Self {
        Error { errno, message: Some(message.into()) }
    }

    /// An error whose message is already in the log (or needs none).
    pub fn silent(errno: i32) -> Self {
        Error { errno, message: None }
    }

    /// The common case: an I/O error with a message.
    pub fn eio(message: impl Into<String>) -> Self {
        Self::new(libc::EIO, message)
    }

    /// This error's message with `other`'s errno (when adding context to
    /// an error nbdkit reported).
    pub fn with_errno_of(self, other: &Error) -> Self {
        Error { errno: other.errno, ..self }
    }

    pub fn errno(&self) -> i32 {
        self.errno
    }

    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// Log the message through `nbdkit_error` and hand the errno to nbdkit.
    pub fn report(&self) {
        if let Some(message) = &self.message {
            crate::log::error(message);
        }
        crate::server::set_error(if self.errno == 0 { libc::EIO } else { self.errno });
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(m) => write!(f, "{m} (errno {})", self.errno),
            None => write!(f, "errno {}", self.errno),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::new(e.raw_os_error().unwrap_or(libc::EIO), e.to_string())
    }
}
