"""Type stubs for the `nbdkit` module that nbdkit's Python plugin gives
to plugin scripts (`import nbdkit`).

The module exists only inside nbdkit.  To type-check a script:

    MYPYPATH=python mypy --strict script.py

To run a script's callbacks without nbdkit (unit tests), put
`python/standin` on sys.path: its `nbdkit.py` implements this interface
in pure Python.  See docs/writing-scripts.md.

Every function takes positional arguments only.  nbdkit 1.32's own
Python plugin has only debug, export_name, set_error, shutdown and
parse_size; the others are our plugin's.  Functions marked "newer" need
an nbdkit function that nbdkit 1.32 lacks, and raise NotImplementedError
where the running nbdkit has none (parse_probability and parse_delay use
the plugin's own parsers instead).
"""

from typing import Final

# Thread models: what thread_model() returns.
THREAD_MODEL_SERIALIZE_CONNECTIONS: Final[int]
THREAD_MODEL_SERIALIZE_ALL_REQUESTS: Final[int]
THREAD_MODEL_SERIALIZE_REQUESTS: Final[int]
THREAD_MODEL_PARALLEL: Final[int]

# Bits of the `flags` argument of pwrite, zero, trim and extents.
FLAG_MAY_TRIM: Final[int]
FLAG_FUA: Final[int]
FLAG_REQ_ONE: Final[int]
FLAG_FAST_ZERO: Final[int]

# What can_fua() returns.
FUA_NONE: Final[int]
FUA_EMULATE: Final[int]
FUA_NATIVE: Final[int]

# What can_cache() returns.
CACHE_NONE: Final[int]
CACHE_EMULATE: Final[int]
CACHE_NATIVE: Final[int]

# Bits of the type in the (offset, length, type) tuples extents() returns;
# 0 means allocated data.
EXTENT_HOLE: Final[int]
EXTENT_ZERO: Final[int]


def debug(msg: str, /) -> None:
    """Log a debug message (shown with `nbdkit -v`)."""


def export_name() -> str:
    """The export name the client asked for (for the empty name: the one
    default_export() chose).  Do not trust it: clients send anything.
    Raises RuntimeError outside a connection."""


def set_error(err: int, /) -> None:
    """Choose the errno the client sees when the callback then raises
    (EIO if none is set).  In zero(), EOPNOTSUPP makes nbdkit fall back to
    pwrite()."""


def shutdown() -> None:
    """Ask the server to shut down (asynchronously)."""


def parse_size(s: str, /) -> int:
    """Parse a size such as "512", "100M", "1G", "4s" (512-byte sectors)
    into bytes.  Raises ValueError if it cannot."""


def parse_bool(s: str, /) -> bool:
    """Parse a boolean: 1/true/t/yes/y/on or 0/false/f/no/n/off (any
    case).  Raises ValueError if it cannot."""


def parse_probability(what: str, s: str, /) -> float:
    """Parse a probability: "0.1", "1e-1", "10%", "1:10" or "1/10".  `what`
    names the parameter in the error.  Raises ValueError if it cannot."""


def parse_delay(what: str, s: str, /) -> tuple[int, int]:
    """Parse a delay ("1", "1.2s", "120ms", "10us", "10μs", "1ns") into
    (seconds, nanoseconds).  `what` names the parameter in the error.
    Raises ValueError if it cannot."""


def disconnect(force: bool, /) -> None:
    """Newer: drop the current client (force=True: at once, without
    finishing requests in flight)."""


def is_tls() -> bool:
    """Whether the current client connected over TLS."""


def stdio_safe() -> bool:
    """Whether the script may use stdin and stdout (not with `nbdkit -s`,
    where they carry the NBD protocol)."""


def nanosleep(sec: int, nsec: int, /) -> None:
    """Sleep, waking early (RuntimeError) if the server shuts down or the
    client disconnects."""


def peer_pid() -> int:
    """The client's process ID (Unix socket connections only, else
    RuntimeError)."""


def peer_uid() -> int:
    """The client's user ID (Unix socket connections only, else
    RuntimeError)."""


def peer_gid() -> int:
    """The client's group ID (Unix socket connections only, else
    RuntimeError)."""


def peer_security_context() -> str:
    """Newer: the client's security label, e.g. SELinux (Unix socket
    connections only)."""


def peer_tls_dn() -> str:
    """Newer: the Distinguished Name of the client's TLS certificate."""


def peer_tls_issuer_dn() -> str:
    """Newer: the Distinguished Name of the issuer of the client's TLS
    certificate."""


def read_password(value: str, /) -> str:
    """Read a password given as a parameter value: "-" asks on the
    terminal, "+FILE" reads FILE, "-FD" reads file descriptor FD, anything
    else is the password itself.  Raises RuntimeError if it cannot."""


def _log(level: int, msg: str, /) -> None:
    """Private: the `logging` bridge.  A record of `level` (a logging
    level number) becomes an nbdkit debug message below WARNING, an nbdkit
    error from WARNING up.  Use the `logging` module instead."""
