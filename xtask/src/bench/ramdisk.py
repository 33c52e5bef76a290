# Ramdisk served by every Python server in `cargo xtask bench`.
# The bench writes two copies to a temporary directory: one with the
# thread_model() below (THREAD_MODEL_PARALLEL) and one without it (the
# plugin's default thread model, SERIALIZE_ALL_REQUESTS).
import nbdkit

API_VERSION = 2

disk = bytearray(256 * 1024 * 1024)


def thread_model():
    return nbdkit.THREAD_MODEL_PARALLEL


def open(readonly):
    return 1


def get_size(h):
    return len(disk)


def can_write(h):
    return True


def can_multi_conn(h):
    return True


def pread(h, buf, offset, flags):
    buf[:] = disk[offset:offset + len(buf)]


def pwrite(h, buf, offset, flags):
    disk[offset:offset + len(buf)] = buf
