"""Plain words for what the system refuses: a full disk, a permission, a locked or read-only project.

The command line and the app show these instead of a traceback (DESIGN.md section 8: bad
input gets a clear message and loses nothing).
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from birdlab.core.paths import shown

OS_REASONS = {
    errno.ENOSPC: "disk full (no space left on the device)",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied (operation not permitted)",
    errno.EROFS: "read-only file system",
    errno.ENAMETOOLONG: "file name too long",
    errno.EISDIR: "is a folder, not a file",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.ENOENT: "no such file or folder",
    errno.EEXIST: "already exists",
    errno.EIO: "input/output error (a failing disk or a removed drive?)",
}


def os_reason(exc: OSError) -> str:
    """The reason of an OS error in plain words, with the file when the error names one."""
    reason = OS_REASONS.get(exc.errno, exc.strerror or str(exc))
    if exc.filename is not None:
        return f"{shown(exc.filename, limit=400)}: {reason}"
    return reason


def holders_of(path: str | Path) -> list[str]:
    """The processes (pid and command) that have `path` open, where /proc tells (Linux)."""
    target = os.path.realpath(path)
    found = []
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]
    except OSError:
        return []
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.path.realpath(f"/proc/{pid}/fd/{fd}") == target:
                    with open(f"/proc/{pid}/cmdline", "rb") as handle:
                        cmd = handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
                    found.append(f"pid {pid} ({cmd[:80]})")
                    break
        except OSError:
            continue
    return found


def sqlite_reason(exc: sqlite3.Error, database: str | Path | None = None) -> str:
    """An SQLite error of a project database in plain words."""
    text = str(exc).lower()
    where = f"{shown(database)}: " if database else ""
    if "locked" in text or "busy" in text:
        holders = holders_of(database) if database else []
        who = f"held by {', '.join(holders)}" if holders else "held by another process"
        return (f"{where}the project is locked ({who}); close the other birdlab (or wait for its batch run) "
                f"and try again")
    if "readonly" in text or "read-only" in text:
        return f"{where}the project is read-only (permission denied): it can be viewed but not changed"
    if "full" in text or "disk i/o" in text:
        return f"{where}disk full or failing (SQLite: {exc}); nothing was changed"
    if "malformed" in text or "not a database" in text:
        return f"{where}the project database is damaged ({exc})"
    return f"{where}database error: {exc}"
