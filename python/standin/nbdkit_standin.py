"""Controls for the stand-in `nbdkit` module (python/standin/nbdkit.py).

A unit test sets what nbdkit would tell the script (export name, TLS,
peer credentials) and reads what the script told nbdkit (the errno given
to set_error, shutdown and disconnect requests, debug messages):

    import nbdkit_standin
    nbdkit_standin.reset()
    nbdkit_standin.state.export_name = "disk2"
    ...
    assert nbdkit_standin.state.last_error == errno.ENOENT

Only tests import this module; scripts import `nbdkit` as usual.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass
class State:
    # What nbdkit.export_name() returns.
    export_name: str = ""
    # What nbdkit.is_tls() and nbdkit.stdio_safe() return.
    is_tls: bool = False
    stdio_safe: bool = True
    # What the peer_* functions return; None makes them raise
    # RuntimeError, as nbdkit's do when the client is not on a Unix socket
    # (or, for the DNs, did not connect over TLS).
    peer_pid: int | None = None
    peer_uid: int | None = None
    peer_gid: int | None = None
    peer_security_context: str | None = None
    peer_tls_dn: str | None = None
    peer_tls_issuer_dn: str | None = None
    # nanosleep() only records its calls in `sleeps` unless this is set.
    real_sleep: bool = False

    # The last errno given to nbdkit.set_error(), None if none yet.
    last_error: int | None = None
    # Whether nbdkit.shutdown() was called.
    shutdown_requested: bool = False
    # None until nbdkit.disconnect(force) is called, then `force`.
    disconnect_requested: bool | None = None
    # Every nbdkit.debug() message, in order (they also go to the
    # `logging` logger "nbdkit" at DEBUG level).
    debug_messages: list[str] = field(default_factory=list)
    # Every nbdkit.nanosleep(sec, nsec) call, as (sec, nsec).
    sleeps: list[tuple[int, int]] = field(default_factory=list)


# The one state the stand-in module reads and writes.  Keep this object
# (reset() clears it in place) rather than replacing it.
state = State()


def reset() -> None:
    """Back to a fresh state, as in a new nbdkit process: call it in
    setUp()."""
    fresh = State()
    for f in dataclasses.fields(State):
        setattr(state, f.name, getattr(fresh, f.name))
