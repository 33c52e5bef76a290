# A sparse RAM disk: memory is used only for the 64 KiB chunks that hold
# data, and clients can ask which ranges are holes (block status).
#
# Run it:
#   nbdkit -f -U /tmp/sparse.sock python examples/sparse.py size=1G
# then, for instance:
#   nbdsh -u 'nbd+unix:///?socket=/tmp/sparse.sock' -c 'h.pwrite(b"x", 10 << 20)'
#   nbdinfo --map 'nbd+unix:///?socket=/tmp/sparse.sock'

import threading

import nbdkit

API_VERSION = 2

CHUNK = 64 * 1024

size = 0
chunks: dict[int, bytearray] = {}  # chunk number -> its CHUNK bytes
lock = threading.Lock()  # guards chunks


def config(key: str, value: str) -> None:
    global size
    if key == "size":
        size = nbdkit.parse_size(value)
    else:
        raise RuntimeError("unknown parameter: %s" % key)


def config_complete() -> None:
    if size == 0:
        raise RuntimeError("size=SIZE is required (for example size=1G)")


def thread_model() -> int:
    return nbdkit.THREAD_MODEL_PARALLEL


def open(readonly: bool) -> int:
    return 1  # All state is global, shared by every connection.


def get_size(h: int) -> int:
    return size


def can_multi_conn(h: int) -> bool:
    return True


def can_fast_zero(h: int) -> bool:
    return True  # Zeroing only drops or clears memory.


def pieces(count: int, offset: int) -> list[tuple[int, int, int]]:
    """Split a request into (chunk number, offset in chunk, length)."""
    out = []
    while count > 0:
        n, start = divmod(offset, CHUNK)
        length = min(count, CHUNK - start)
        out.append((n, start, length))
        offset += length
        count -= length
    return out


def is_zero(data: memoryview | bytearray) -> bool:
    return bytes(data) == bytes(len(data))  # (Faster than any(data).)


def pread(h: int, buf: memoryview, offset: int, flags: int) -> None:
    pos = 0
    with lock:
        for n, start, length in pieces(len(buf), offset):
            chunk = chunks.get(n)
            if chunk is None:
                buf[pos:pos + length] = bytes(length)
            else:
                buf[pos:pos + length] = chunk[start:start + length]
            pos += length


def pwrite(h: int, buf: memoryview, offset: int, flags: int) -> None:
    pos = 0
    with lock:
        for n, start, length in pieces(len(buf), offset):
            data = buf[pos:pos + length]
            chunk = chunks.get(n)
            if chunk is None:
                if is_zero(data):
                    pos += length
                    continue  # Zeroes on a hole: it stays a hole.
                chunk = chunks[n] = bytearray(CHUNK)
            chunk[start:start + length] = data
            pos += length


def zero(h: int, count: int, offset: int, flags: int) -> None:
    with lock:
        for n, start, length in pieces(count, offset):
            chunk = chunks.get(n)
            if chunk is None:
                continue  # Already a hole.
            chunk[start:start + length] = bytes(length)
            if is_zero(chunk):
                del chunks[n]  # Give the memory back.


def trim(h: int, count: int, offset: int, flags: int) -> None:
    zero(h, count, offset, flags)


def flush(h: int, flags: int) -> None:
    pass


def extents(h: int, count: int, offset: int,
            flags: int) -> list[tuple[int, int, int]]:
    """(offset, length, type) of each run of holes or data, in order."""
    hole = nbdkit.EXTENT_HOLE | nbdkit.EXTENT_ZERO
    out: list[tuple[int, int, int]] = []
    with lock:
        for n, start, length in pieces(count, offset):
            kind = hole if n not in chunks else 0
            if out and out[-1][2] == kind:
                o, ln, _ = out[-1]
                out[-1] = (o, ln + length, kind)
            else:
                out.append((n * CHUNK + start, length, kind))
            if flags & nbdkit.FLAG_REQ_ONE and len(out) > 1:
                return out[:1]  # The client asked for only the first.
    return out
