# Run once when the interpreter starts, before the script.
# Plugin semantics that are easiest to say in Python live here, written
# once for every backend.
import logging
import sys

import nbdkit

# With `nbdkit -s` the NBD protocol runs over stdin/stdout: a script's
# print() would corrupt it. Send the script's standard output to
# standard error instead.
if not nbdkit.stdio_safe():
    sys.stdout = sys.stderr


class _NbdkitLogHandler(logging.Handler):
    """Python logging records into nbdkit's log: below WARNING as nbdkit
    debug messages (shown with -v), WARNING and above as nbdkit errors
    (always shown), each with its level and logger name."""

    def emit(self, record):
        try:
            nbdkit._log(record.levelno, "%s %s: %s" % (record.levelname, record.name, self.format(record)))
        except Exception:
            self.handleError(record)


# The handler of last resort is used only while the script configures no
# handler of its own: logging.basicConfig() in a script still wins.
logging.lastResort = _NbdkitLogHandler()
logging.root.setLevel(logging.DEBUG)
del _NbdkitLogHandler
