"""Which process owns a running job or run, and whether it still does.

A ``running`` row records its process: PID, host and the process's start time (so a PID the
system has since given to another process is not mistaken for the owner). Another host's
process cannot be checked; its row is trusted while it keeps writing (``updated_at``) and
read as gone after :data:`STALE_AFTER_S` of silence.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timezone

STALE_AFTER_S = 3600.0  # another host's owner that wrote nothing for this long is gone


def started(pid: int) -> int | None:
    """The process's start time (clock ticks since boot, Linux), None where unknown."""
    try:
        stat = open(f"/proc/{pid}/stat", encoding="ascii", errors="replace").read()
    except OSError:
        return None
    # the command name (field 2) may hold spaces: fields after its closing parenthesis
    fields = stat[stat.rfind(")") + 2:].split()
    try:
        return int(fields[19])  # field 22 of the whole line: starttime
    except (IndexError, ValueError):
        return None


def this_process() -> tuple[int, str, int | None]:
    """(pid, host, start time) of the calling process, as a row records them."""
    pid = os.getpid()
    return pid, socket.gethostname(), started(pid)


def alive(pid: int | None, host: str | None, pid_started: int | None = None,
          updated_at: datetime | None = None, stale_after_s: float = STALE_AFTER_S) -> bool:
    """Whether the process that wrote a ``running`` row may still be at work."""
    if pid is None:
        return False
    if host != socket.gethostname():  # cannot look: alive while it keeps writing
        if updated_at is None:
            return True
        now = datetime.now(timezone.utc) if updated_at.tzinfo else datetime.now()
        return (now - updated_at).total_seconds() < stale_after_s
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    return pid_started is None or started(pid) in (None, pid_started)
