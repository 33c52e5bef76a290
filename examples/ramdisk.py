# A 64 MiB RAM disk, shared by every connection, lost when nbdkit exits.
#
# Run it:
#   nbdkit -f -U /tmp/ramdisk.sock python examples/ramdisk.py
# then, in another terminal:
#   nbdsh -u 'nbd+unix:///?socket=/tmp/ramdisk.sock' \
#         -c 'h.pwrite(b"hello", 0)' -c 'print(h.pread(5, 0))'
#
# Every connection sees the same bytes, and flush has nothing to do, so
# clients may open several connections at once (can_multi_conn).

import nbdkit

API_VERSION = 2

SIZE = 64 * 1024 * 1024
disk = bytearray(SIZE)


def thread_model() -> int:
    # Each request is one slice copy, which the GIL makes atomic, so
    # requests may run in parallel without a lock of our own.
    return nbdkit.THREAD_MODEL_PARALLEL


def open(readonly: bool) -> int:
    nbdkit.debug("ramdisk: open, readonly=%s" % readonly)
    return 1  # Any object will do: all state is global.


def get_size(h: int) -> int:
    return SIZE


def can_multi_conn(h: int) -> bool:
    return True


def pread(h: int, buf: memoryview, offset: int, flags: int) -> None:
    # nbdkit checks every request against get_size: no bounds checks here.
    buf[:] = disk[offset:offset + len(buf)]


def pwrite(h: int, buf: memoryview, offset: int, flags: int) -> None:
    disk[offset:offset + len(buf)] = buf


def flush(h: int, flags: int) -> None:
    pass  # Memory needs no flushing.


def trim(h: int, count: int, offset: int, flags: int) -> None:
    # Trimmed bytes may read back as anything; zeroes are simplest.
    zero(h, count, offset, flags)


def zero(h: int, count: int, offset: int, flags: int) -> None:
    disk[offset:offset + count] = bytes(count)
