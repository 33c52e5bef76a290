# Serve a file (or a block device) as a disk.
#
# Run it:
#   truncate -s 1G /tmp/disk.img
#   nbdkit -f -U /tmp/file.sock python examples/file.py file=/tmp/disk.img
# then, for instance:
#   qemu-img info 'nbd+unix:///?socket=/tmp/file.sock'
#
# Reads go straight from the file into nbdkit's buffer (os.preadv into the
# memoryview nbdkit lends us): no bytes object is made on the way.  Trim
# punches holes with fallocate(2), so trimmed ranges stop using disk space.

import ctypes
import ctypes.util
import errno
import os
from dataclasses import dataclass

import nbdkit

API_VERSION = 2

filename: str | None = None


def config(key: str, value: str) -> None:
    global filename
    if key == "file":
        # nbdkit may change directory when it daemonizes: keep it absolute.
        filename = os.path.abspath(value)
    else:
        raise RuntimeError("unknown parameter: %s" % key)


def config_complete() -> None:
    if filename is None:
        raise RuntimeError("file=FILENAME is required")


def thread_model() -> int:
    # pread/pwrite at an offset need no shared file position, and os
    # calls release the GIL while they wait for the disk.
    return nbdkit.THREAD_MODEL_PARALLEL


@dataclass
class Handle:
    fd: int


def open(readonly: bool) -> Handle:
    assert filename is not None  # config_complete made sure of that.
    flags = os.O_RDONLY if readonly else os.O_RDWR
    return Handle(os.open(filename, flags | os.O_CLOEXEC))


def close(h: Handle) -> None:
    os.close(h.fd)


def get_size(h: Handle) -> int:
    # Works for block devices too, where st_size is 0.
    return os.lseek(h.fd, 0, os.SEEK_END)


def can_multi_conn(h: Handle) -> bool:
    # Every connection reads and writes the same file, and flush flushes
    # it for all of them.
    return True


def pread(h: Handle, buf: memoryview, offset: int, flags: int) -> None:
    while buf:
        n = os.preadv(h.fd, [buf], offset)
        if n == 0:
            nbdkit.set_error(errno.EIO)
            raise RuntimeError("short read: the file shrank?")
        buf = buf[n:]
        offset += n


def pwrite(h: Handle, buf: memoryview, offset: int, flags: int) -> None:
    while buf:
        n = os.pwrite(h.fd, buf, offset)
        buf = buf[n:]
        offset += n
    if flags & nbdkit.FLAG_FUA:
        os.fdatasync(h.fd)


def flush(h: Handle, flags: int) -> None:
    os.fdatasync(h.fd)


# fallocate(2) is not in the os module; call it from the C library.
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_fallocate = _libc.fallocate
_fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
_fallocate.restype = ctypes.c_int


def trim(h: Handle, count: int, offset: int, flags: int) -> None:
    mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
    if _fallocate(h.fd, mode, offset, count) == -1:
        err = ctypes.get_errno()
        # Trim is only advice: a file system that cannot punch holes
        # (or a block device) just keeps the data.
        if err not in (errno.EOPNOTSUPP, errno.ENODEV):
            nbdkit.set_error(err)
            raise OSError(err, os.strerror(err))
    if flags & nbdkit.FLAG_FUA:
        os.fdatasync(h.fd)
