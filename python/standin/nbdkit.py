"""A pure-Python stand-in for the `nbdkit` module that nbdkit's Python
plugin gives to scripts, so that a script's unit tests can import the
script and call its callbacks without nbdkit:

    sys.path.insert(0, "python/standin")   # before importing the script
    import nbdkit, nbdkit_standin

Same constants (same values), same functions, same arguments
(positional-only, TypeError for a wrong type), same results and same
exceptions as the real module (python/nbdkit.pyi), with nbdkit replaced
by the `nbdkit_standin.state` object that tests set and read:

- debug() logs to the `logging` logger "nbdkit" (DEBUG) and appends to
  state.debug_messages;
- set_error() records state.last_error;
- export_name(), is_tls(), stdio_safe(), peer_*() return state fields;
- shutdown() and disconnect() record state.shutdown_requested and
  state.disconnect_requested;
- nanosleep() records state.sleeps (and sleeps only if state.real_sleep),
  raising RuntimeError once a shutdown or disconnect was requested;
- parse_size, parse_bool, parse_probability and parse_delay accept the
  formats the plugin accepts (nbdkit 1.32's parse_size and parse_bool; the
  plugin's own parse_probability and parse_delay) and raise ValueError
  for anything else;
- read_password() reads "+FILE", "-FD", "-" (asks) or takes the value
  as is.
"""

from __future__ import annotations

import getpass
import logging
import math
import operator
import os
import re
import time

import nbdkit_standin as _standin

# The values of <nbdkit-common.h>.
THREAD_MODEL_SERIALIZE_CONNECTIONS = 0
THREAD_MODEL_SERIALIZE_ALL_REQUESTS = 1
THREAD_MODEL_SERIALIZE_REQUESTS = 2
THREAD_MODEL_PARALLEL = 3

FLAG_MAY_TRIM = 1 << 0
FLAG_FUA = 1 << 1
FLAG_REQ_ONE = 1 << 2
FLAG_FAST_ZERO = 1 << 3

FUA_NONE = 0
FUA_EMULATE = 1
FUA_NATIVE = 2

CACHE_NONE = 0
CACHE_EMULATE = 1
CACHE_NATIVE = 2

EXTENT_HOLE = 1 << 0
EXTENT_ZERO = 1 << 1

_logger = logging.getLogger("nbdkit")

_I64 = 1 << 63
_U32 = 1 << 32


def _str(fn: str, i: int, v: object) -> str:
    if not isinstance(v, str):
        raise TypeError("%s() argument %d must be str, not %s" % (fn, i, type(v).__name__))
    return v


def _int(fn: str, i: int, v: object) -> int:
    """An int argument, as the real module takes it (anything with
    __index__ that fits 64 bits)."""
    try:
        n = operator.index(v)  # type: ignore[arg-type]
    except TypeError:
        n = None
    if n is None or not -_I64 <= n < _I64:
        raise TypeError("%s() argument %d must be int, not %s" % (fn, i, type(v).__name__))
    return n


# ---------------------------------------------------------------------------
# Logging, errors, server control


def debug(msg: str, /) -> None:
    msg = _str("debug", 1, msg)
    _standin.state.debug_messages.append(msg)
    _logger.debug("%s", msg)


def _log(level: int, msg: str, /) -> None:
    level, msg = _int("_log", 1, level), _str("_log", 2, msg)
    _logger.log(logging.ERROR if level >= logging.WARNING else logging.DEBUG, "%s", msg)


def set_error(err: int, /) -> None:
    err = _int("set_error", 1, err)
    if not -(1 << 31) <= err < (1 << 31):
        raise ValueError("errno out of range")
    _standin.state.last_error = err


def shutdown() -> None:
    _standin.state.shutdown_requested = True


def disconnect(force: bool, /) -> None:
    _standin.state.disconnect_requested = bool(force)


def nanosleep(sec: int, nsec: int, /) -> None:
    sec, nsec = _int("nanosleep", 1, sec), _int("nanosleep", 2, nsec)
    if not 0 <= sec < _U32:
        raise ValueError("seconds out of range")
    if not 0 <= nsec < _U32:
        raise ValueError("nanoseconds out of range")
    st = _standin.state
    st.sleeps.append((sec, nsec))
    if st.shutdown_requested or st.disconnect_requested is not None:
        raise RuntimeError("nanosleep interrupted")
    if st.real_sleep:
        time.sleep(sec + nsec / 1e9)


# ---------------------------------------------------------------------------
# The connection


def export_name() -> str:
    return _standin.state.export_name


def is_tls() -> bool:
    return _standin.state.is_tls


def stdio_safe() -> bool:
    return _standin.state.stdio_safe


def _peer_int(name: str, v: int | None) -> int:
    if v is None:
        raise RuntimeError("nbdkit_%s failed" % name)
    return v


def _peer_str(name: str, v: str | None) -> str:
    if v is None:
        raise RuntimeError("nbdkit_%s failed" % name)
    return v


def peer_pid() -> int:
    return _peer_int("peer_pid", _standin.state.peer_pid)


def peer_uid() -> int:
    return _peer_int("peer_uid", _standin.state.peer_uid)


def peer_gid() -> int:
    return _peer_int("peer_gid", _standin.state.peer_gid)


def peer_security_context() -> str:
    return _peer_str("peer_security_context", _standin.state.peer_security_context)


def peer_tls_dn() -> str:
    return _peer_str("peer_tls_dn", _standin.state.peer_tls_dn)


def peer_tls_issuer_dn() -> str:
    return _peer_str("peer_tls_issuer_dn", _standin.state.peer_tls_issuer_dn)


# ---------------------------------------------------------------------------
# Parsers


# strtoimax: C-locale white space, a sign, decimal digits.
_SIZE = re.compile(r"[ \t\n\v\f\r]*([+-]?[0-9]+)(.*)", re.DOTALL)
_SCALE = {"": 1, "b": 1, "s": 512}
for _i, _c in enumerate("kmgtpe"):
    _SCALE[_c] = 1024 ** (_i + 1)


def parse_size(s: str, /) -> int:
    """nbdkit_parse_size of nbdkit 1.32: digits, then nothing or one of
    b, s (512-byte sectors), k, m, g, t, p, e (powers of 1024), any case."""
    s = _str("parse_size", 1, s)
    m = _SIZE.fullmatch(s)
    scale = _SCALE.get(m.group(2).lower()) if m else None
    if m is None or scale is None:
        raise ValueError("Unable to parse string as size")
    n = int(m.group(1))
    if n < 0 or n >= _I64 or n * scale >= _I64:
        raise ValueError("Unable to parse string as size")
    return n * scale


_TRUE = ("true", "t", "yes", "y", "on")
_FALSE = ("false", "f", "no", "n", "off")


def parse_bool(s: str, /) -> bool:
    """nbdkit_parse_bool: 1, true, t, yes, y, on / 0, false, f, no, n, off
    (words in any case)."""
    s = _str("parse_bool", 1, s)
    if s == "1" or s.lower() in _TRUE:
        return True
    if s == "0" or s.lower() in _FALSE:
        return False
    raise ValueError("Unable to parse string as boolean")


# A decimal number as the plugin's parsers read it: no inf, nan, hex or
# underscores, which Python's float() would take.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


# What Rust's str::trim removes (Unicode White_Space), which is not quite
# what Python's str.strip() removes.
_WS = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006" \
      "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def _number(s: str) -> float | None:
    s = s.strip(_WS)
    return float(s) if _NUMBER.fullmatch(s) else None


def _probability(s: str) -> float | None:
    s = s.strip(_WS)
    p: float | None
    if s.endswith("%"):
        n = _number(s[:-1])
        p = None if n is None else n / 100.0
    elif ":" in s or "/" in s:
        num, den = re.split("[:/]", s, maxsplit=1)
        n, d = _number(num), _number(den)
        p = None if n is None or d is None or d == 0.0 else n / d
    else:
        p = _number(s)
    return p if p is not None and math.isfinite(p) and p >= 0.0 else None


def parse_probability(what: str, s: str, /) -> float:
    """0.1, 1e-1, 10%, 1:10 and 1/10 all mean one in ten; at least 0 (it
    may exceed 1: 200% is 2.0)."""
    what, s = _str("parse_probability", 1, what), _str("parse_probability", 2, s)
    p = _probability(s)
    if p is None:
        raise ValueError("%s: could not parse probability: %s" % (what, s))
    return p


_DELAY_UNITS = (("ns", 1e-9), ("us", 1e-6), ("μs", 1e-6), ("ms", 1e-3), ("s", 1.0))


def _delay(s: str) -> tuple[int, int] | None:
    s = s.strip(_WS)
    num, scale = s, 1.0
    for suffix, unit in _DELAY_UNITS:
        if s.endswith(suffix):
            num, scale = s[:-len(suffix)], unit
            break
    secs = _number(num)
    if secs is None or not math.isfinite(secs) or secs < 0.0:
        return None
    # Whole nanoseconds, rounded half away from zero.
    ns = secs * scale * 1e9
    total = math.floor(ns)
    if ns - total >= 0.5:
        total += 1
    sec, nsec = divmod(total, 1_000_000_000)
    return (sec, nsec) if sec < _U32 else None


def parse_delay(what: str, s: str, /) -> tuple[int, int]:
    """1, 1.2, 1.2s, 120ms, 1.2us, 1.2μs, 1ns as (seconds, nanoseconds)."""
    what, s = _str("parse_delay", 1, what), _str("parse_delay", 2, s)
    d = _delay(s)
    if d is None:
        raise ValueError("%s: could not parse delay: %s" % (what, s))
    return d


def read_password(value: str, /) -> str:
    """nbdkit_read_password: "-" asks on the terminal, "-FD" reads file
    descriptor FD, "+FILE" reads FILE (each: the first line, without its
    newline), anything else is the password itself.  RuntimeError if the
    password cannot be read."""
    value = _str("read_password", 1, value)
    try:
        if value == "-":
            if not os.isatty(0):
                raise RuntimeError("stdin is not a tty, cannot read password")
            return getpass.getpass("password: ")
        if value.startswith("-"):
            if not value[1:].isdigit() or int(value[1:]) <= 2:
                raise RuntimeError("could not read the password")
            with os.fdopen(os.dup(int(value[1:])), "rb") as f:
                line = f.readline()
        elif value.startswith("+"):
            with open(value[1:], "rb") as f:
                line = f.readline()
        else:
            return value
    except OSError as e:
        raise RuntimeError("could not read the password: %s" % e) from e
    return line.removesuffix(b"\n").decode()
