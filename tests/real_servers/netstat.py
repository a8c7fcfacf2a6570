"""Count this machine's open TCP connections to a loopback port, from /proc/net/tcp (Linux only)."""

from __future__ import annotations

from pathlib import Path

_ESTABLISHED = "01"


def established_to(port: int) -> int:
    """Client-side sockets in ESTABLISHED state whose remote end is `port` (any loopback address)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 4:
                continue
            remote, state = fields[2], fields[3]
            if state == _ESTABLISHED and int(remote.rsplit(":", 1)[1], 16) == port:
                count += 1
    return count
