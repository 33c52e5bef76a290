# Tests of the stand-in `nbdkit` module itself.
#
#   python3 -m unittest discover -s python/standin
#   mypy --strict python/standin
#
# That its parsers agree with the real module's is checked against nbdkit
# by the conformance suite (tests/tests/examples.rs).

import errno
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import nbdkit  # noqa: E402
import nbdkit_standin  # noqa: E402

state = nbdkit_standin.state


class TestControls(unittest.TestCase):
    def setUp(self) -> None:
        nbdkit_standin.reset()

    def test_set_error_is_recorded(self) -> None:
        self.assertIsNone(state.last_error)
        nbdkit.set_error(errno.ENOSPC)
        self.assertEqual(state.last_error, errno.ENOSPC)
        with self.assertRaises(ValueError):
            nbdkit.set_error(1 << 40)
        with self.assertRaises(TypeError):
            nbdkit.set_error("EIO")  # type: ignore[arg-type]

    def test_export_name_and_tls(self) -> None:
        self.assertEqual(nbdkit.export_name(), "")
        state.export_name = "disk2"
        state.is_tls = True
        self.assertEqual(nbdkit.export_name(), "disk2")
        self.assertTrue(nbdkit.is_tls())
        nbdkit_standin.reset()
        self.assertEqual(nbdkit.export_name(), "")
        self.assertFalse(nbdkit.is_tls())

    def test_shutdown_disconnect_and_nanosleep(self) -> None:
        nbdkit.nanosleep(1, 5)
        self.assertEqual(state.sleeps, [(1, 5)])
        nbdkit.disconnect(False)
        self.assertIs(state.disconnect_requested, False)
        with self.assertRaises(RuntimeError):
            nbdkit.nanosleep(0, 1)
        self.assertFalse(state.shutdown_requested)
        nbdkit.shutdown()
        self.assertTrue(state.shutdown_requested)

    def test_peer_credentials(self) -> None:
        with self.assertRaises(RuntimeError):
            nbdkit.peer_pid()
        state.peer_pid, state.peer_uid, state.peer_gid = 42, 1000, 100
        self.assertEqual((nbdkit.peer_pid(), nbdkit.peer_uid(), nbdkit.peer_gid()), (42, 1000, 100))
        with self.assertRaises(RuntimeError):
            nbdkit.peer_tls_dn()

    def test_debug(self) -> None:
        with self.assertLogs("nbdkit", "DEBUG"):
            nbdkit.debug("hello")
        self.assertEqual(state.debug_messages, ["hello"])

    def test_positional_only(self) -> None:
        with self.assertRaises(TypeError):
            nbdkit.parse_size(s="1M")  # type: ignore[call-arg]

    def test_read_password(self) -> None:
        self.assertEqual(nbdkit.read_password("plain"), "plain")
        with tempfile.NamedTemporaryFile("w") as f:
            f.write("secret\nmore\n")
            f.flush()
            self.assertEqual(nbdkit.read_password("+" + f.name), "secret")
        with self.assertRaises(RuntimeError):
            nbdkit.read_password("+/nonexistent/file")


class TestParsers(unittest.TestCase):
    def test_parse_size(self) -> None:
        for s, n in [("0", 0), ("512", 512), ("1k", 1024), ("1M", 1 << 20), ("2G", 2 << 30),
                     ("1E", 1 << 60), ("3s", 1536), ("7b", 7), (" +5", 5)]:
            self.assertEqual(nbdkit.parse_size(s), n, s)
        for s in ["", "-1", "1KiB", "1.5M", "1 M", "8E", "0x10"]:
            with self.assertRaises(ValueError, msg=s):
                nbdkit.parse_size(s)

    def test_parse_bool(self) -> None:
        for s in ["1", "true", "T", "yes", "Y", "on", "ON"]:
            self.assertIs(nbdkit.parse_bool(s), True, s)
        for s in ["0", "false", "F", "no", "N", "off", "Off"]:
            self.assertIs(nbdkit.parse_bool(s), False, s)
        for s in ["", "2", "01", " yes", "enable"]:
            with self.assertRaises(ValueError, msg=s):
                nbdkit.parse_bool(s)

    def test_parse_probability(self) -> None:
        for s in ["0.1", "1e-1", "10%", "1:10", "1/10", " 10 % "]:
            self.assertAlmostEqual(nbdkit.parse_probability("p", s), 0.1, msg=s)
        self.assertEqual(nbdkit.parse_probability("p", "200%"), 2.0)
        for s in ["", "x", "-0.5", "1/0", "inf", "nan", "1:", "%", "1_0"]:
            with self.assertRaisesRegex(ValueError, "^p: could not parse probability", msg=s):
                nbdkit.parse_probability("p", s)

    def test_parse_delay(self) -> None:
        for s, d in [("1", (1, 0)), ("1.2", (1, 200_000_000)), ("1.2s", (1, 200_000_000)),
                     ("120ms", (0, 120_000_000)), ("1.2us", (0, 1200)), ("120μs", (0, 120_000)),
                     ("1ns", (0, 1)), ("2.5ns", (0, 3))]:
            self.assertEqual(nbdkit.parse_delay("d", s), d, s)
        for s in ["", "s", "-1", "1x", "nan", "inf", "1h", "4294967296"]:
            with self.assertRaisesRegex(ValueError, "^d: could not parse delay", msg=s):
                nbdkit.parse_delay("d", s)


if __name__ == "__main__":
    unittest.main()
