# Serve one file inside a tar archive as a read-only disk, without
# unpacking it.
#
# Run it:
#   tar cf /tmp/images.tar disk.qcow2
#   nbdkit -f -U /tmp/tar.sock python examples/tar.py tar=/tmp/images.tar member=disk.qcow2
# then, for instance:
#   qemu-img info 'nbd+unix:///?socket=/tmp/tar.sock'
#
# The tarfile module finds where the member's bytes start in the archive
# (TarInfo.offset_data); after that every read goes straight from the
# archive into nbdkit's buffer.  Only uncompressed archives work: a
# compressed one has no such offsets.

import errno
import os
import tarfile

import nbdkit

API_VERSION = 2

tar: str | None = None
member: str | None = None
data_offset = 0  # where the member's bytes start in the archive
data_size = 0


def config(key: str, value: str) -> None:
    global tar, member
    if key == "tar":
        tar = os.path.abspath(value)
    elif key == "member":
        member = value
    else:
        raise RuntimeError("unknown parameter: %s" % key)


def config_complete() -> None:
    global data_offset, data_size
    if tar is None or member is None:
        raise RuntimeError("tar=FILE and member=NAME are required")
    # "r:" refuses compressed archives, whose members cannot be read in place.
    with tarfile.open(tar, "r:") as archive:
        info = archive.getmember(member)
    if not info.isfile() or info.issparse():
        raise RuntimeError("%s: %s is not a regular file" % (tar, member))
    data_offset, data_size = info.offset_data, info.size
    nbdkit.debug("tar: %s is %d bytes at offset %d" % (member, data_size, data_offset))


def thread_model() -> int:
    return nbdkit.THREAD_MODEL_PARALLEL


def open(readonly: bool) -> int:
    assert tar is not None  # config_complete made sure of that.
    return os.open(tar, os.O_RDONLY | os.O_CLOEXEC)  # The handle is the fd.


def close(fd: int) -> None:
    os.close(fd)


def get_size(fd: int) -> int:
    return data_size


def can_write(fd: int) -> bool:
    return False


def can_multi_conn(fd: int) -> bool:
    return True  # Read-only: every connection sees the same bytes.


def pread(fd: int, buf: memoryview, offset: int, flags: int) -> None:
    offset += data_offset
    while buf:
        n = os.preadv(fd, [buf], offset)
        if n == 0:
            nbdkit.set_error(errno.EIO)
            raise RuntimeError("short read: the archive was truncated?")
        buf = buf[n:]
        offset += n
