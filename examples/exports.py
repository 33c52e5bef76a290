# Several read-only disks from one server, chosen by export name.
#
# Run it:
#   nbdkit -f -U /tmp/exports.sock python examples/exports.py
# then, for instance:
#   nbdinfo --list 'nbd+unix:///?socket=/tmp/exports.sock'
#   nbdsh -u 'nbd+unix:///pattern?socket=/tmp/exports.sock' -c 'print(h.pread(16, 0))'
#
# A client that asks for the empty name "" gets the default export;
# nbdkit.export_name() then already says which one that is.

import errno
from dataclasses import dataclass

import nbdkit

API_VERSION = 2


@dataclass
class Export:
    description: str
    data: bytes


EXPORTS = {
    "greeting": Export("a short text, repeated",
                       b"Hello from nbdkit!\n" * 1000),
    "pattern": Export("64 KiB where byte i is i % 256",
                      bytes(range(256)) * 256),
    "zeroes": Export("1 MiB of zeroes", bytes(1024 * 1024)),
}
DEFAULT = "greeting"


def thread_model() -> int:
    return nbdkit.THREAD_MODEL_PARALLEL  # Nothing is ever modified.


def list_exports(readonly: bool, is_tls: bool) -> list[tuple[str, str]]:
    return [(name, e.description) for name, e in EXPORTS.items()]


def default_export(readonly: bool, is_tls: bool) -> str:
    return DEFAULT


def open(readonly: bool) -> Export:
    # Never trust the name: the client can send anything.
    name = nbdkit.export_name()
    export = EXPORTS.get(name)
    if export is None:
        nbdkit.set_error(errno.ENOENT)
        raise RuntimeError("no such export: %r" % name)
    return export


def export_description(h: Export) -> str:
    return h.description


def get_size(h: Export) -> int:
    return len(h.data)


def can_multi_conn(h: Export) -> bool:
    return True


def pread(h: Export, buf: memoryview, offset: int, flags: int) -> None:
    buf[:] = h.data[offset:offset + len(buf)]
