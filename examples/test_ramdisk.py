# Unit tests for ramdisk.py, run without nbdkit: the stand-in `nbdkit`
# module (python/standin) takes the place of the one nbdkit provides.
#
# Run them (from the top of the repository):
#   python3 -m unittest examples/test_ramdisk.py
# Type-check them with the scripts:
#   MYPYPATH=python mypy --strict examples/*.py

import importlib
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
# The stand-in first, so that the script's `import nbdkit` finds it.
sys.path.insert(0, os.path.join(HERE, "..", "python", "standin"))
sys.path.insert(0, HERE)

import nbdkit  # noqa: E402  (the stand-in)
import ramdisk  # noqa: E402


class TestRamdisk(unittest.TestCase):
    def setUp(self) -> None:
        importlib.reload(ramdisk)  # A fresh, all-zero disk for each test.
        self.h = ramdisk.open(False)

    def read(self, count: int, offset: int) -> bytes:
        # Like nbdkit: lend the script a buffer to fill.
        buf = bytearray(count)
        ramdisk.pread(self.h, memoryview(buf), offset, 0)
        return bytes(buf)

    def test_size_and_thread_model(self) -> None:
        self.assertEqual(ramdisk.get_size(self.h), 64 * 1024 * 1024)
        self.assertEqual(ramdisk.thread_model(), nbdkit.THREAD_MODEL_PARALLEL)
        self.assertTrue(ramdisk.can_multi_conn(self.h))

    def test_starts_zeroed(self) -> None:
        self.assertEqual(self.read(4096, 0), bytes(4096))

    def test_write_then_read(self) -> None:
        data = b"hello, world" * 100
        ramdisk.pwrite(self.h, memoryview(data), 1000, nbdkit.FLAG_FUA)
        self.assertEqual(self.read(len(data), 1000), data)
        # Around it, still zeroes.
        self.assertEqual(self.read(1000, 0), bytes(1000))
        self.assertEqual(self.read(10, 1000 + len(data)), bytes(10))

    def test_last_byte(self) -> None:
        end = ramdisk.get_size(self.h)
        ramdisk.pwrite(self.h, memoryview(b"\xff"), end - 1, 0)
        self.assertEqual(self.read(2, end - 2), b"\x00\xff")

    def test_zero(self) -> None:
        ramdisk.pwrite(self.h, memoryview(b"x" * 8192), 0, 0)
        ramdisk.zero(self.h, 4096, 2048, nbdkit.FLAG_MAY_TRIM)
        self.assertEqual(self.read(8192, 0), b"x" * 2048 + bytes(4096) + b"x" * 2048)

    def test_trim_reads_back_zero(self) -> None:
        ramdisk.pwrite(self.h, memoryview(b"y" * 512), 512, 0)
        ramdisk.trim(self.h, 512, 512, 0)
        ramdisk.flush(self.h, 0)
        self.assertEqual(self.read(1536, 0), bytes(1536))

    def test_open_logs_a_debug_message(self) -> None:
        # The stand-in sends nbdkit.debug() to the logger "nbdkit".
        with self.assertLogs("nbdkit", "DEBUG") as logs:
            ramdisk.open(True)
        self.assertIn("readonly=True", logs.output[0])


if __name__ == "__main__":
    unittest.main()
