# Callgrind client of `cargo xtask bench`: N synchronous 4 KiB reads at
# pseudo-random (fixed-sequence) offsets over one connection.
# Run with /usr/bin/python3 (the python3-libnbd module).
import sys

import nbd

sock, n = sys.argv[1], int(sys.argv[2])
h = nbd.NBD()
h.connect_unix(sock)
blocks = h.get_size() // 4096
x = 12345
for _ in range(n):
    x = (x * 1103515245 + 12345) & 0x7FFFFFFF
    h.pread(4096, (x % blocks) * 4096)
h.shutdown()
