"""The error boundary shared by the CLI and the pages: an OS or DuckDB error (full disk, a name
too long, a file where a folder should be, a read-only folder, a truncated workspace) or a GPU out
of memory becomes one line naming the problem (anything else: its type and message, never blamed on
the database), and its traceback goes to a log file for whoever debugs it.

The log is `$SEEDBED_CACHE/errors.log` (else `~/.cache/seedbed/errors.log`), falling back to the
system temporary folder when that cannot be written (a full disk or read-only home).
"""
from __future__ import annotations

import errno
import os
import tempfile
import time
import traceback
from pathlib import Path

import duckdb

from engine.errors import UserError

# What the boundary turns into one line: the machine's or the file's fault, not the code's (a
# DuckDB BinderException is a bug and stays one: it reaches the last boundary as an internal error).
BOUNDARY = (OSError, MemoryError, duckdb.IOException, duckdb.PermissionException, duckdb.OutOfMemoryException,
            duckdb.SerializationException, duckdb.FatalException)
_ERRNO = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.ENAMETOOLONG: "a file name is too long (most file systems allow 255 bytes)",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "the path is a folder, not a file",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "the file system is read-only",
    errno.ENOENT: "no such file or folder",
    errno.EEXIST: "the file already exists",
}
_DUCKDB_HINTS = (("No space left", "the disk is full"), ("Read-only file system", "the file system is read-only"),
                 ("Permission denied", "permission denied"), ("File name too long", "a file name is too long"),
                 ("Could not read enough bytes", "the workspace file is truncated or corrupt"),
                 ("checksum", "the workspace file is corrupt"), ("Corrupt", "the workspace file is corrupt"))


def one_line(exc: BaseException) -> str:
    """What went wrong, in one line without a traceback (the path named when known)."""
    if isinstance(exc, UserError):
        return " ".join(str(exc).split())
    if isinstance(exc, MemoryError):
        return "out of memory; try a smaller file or batch"
    if isinstance(exc, OSError):
        what = _ERRNO.get(exc.errno or -1) or (exc.strerror or type(exc).__name__)
        where = exc.filename or ""
        where = f"{str(where)[:160]}{'…' if len(str(where)) > 160 else ''}: " if where else ""
        return " ".join(f"{where}{what}".split())
    message = " ".join(str(exc).split())
    if type(exc).__name__ == "OutOfMemoryError":  # torch.cuda's (torch is not imported here)
        return f"the GPU is out of memory; run fewer workers at once or a smaller batch ({message[:160]})"
    hint = next((h for marker, h in _DUCKDB_HINTS if marker.lower() in message.lower()), None)
    if hint:
        return f"{hint} ({message[:200]})"
    if isinstance(exc, duckdb.Error):
        return f"the workspace database failed ({message[:240]})"
    return f"{type(exc).__name__}: {message[:240]}"


def log_traceback(exc: BaseException, context: str = "") -> Path | None:
    """Append `exc`'s traceback to the error log; its path, or None when no folder is writable."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    entry = f"--- {stamp} pid {os.getpid()} {context}\n{text}"
    cache = Path(os.environ.get("SEEDBED_CACHE") or Path.home() / ".cache" / "seedbed")
    for folder in (cache, Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / "errors.log"
            with open(path, "a", encoding="utf-8") as f:
                f.write(entry)
            return path
        except OSError:
            continue
    return None


def report(exc: BaseException, context: str = "") -> str:
    """The one line for the user (`one_line`), with where the traceback was logged."""
    logged = log_traceback(exc, context)
    return one_line(exc) + (f" (details: {logged})" if logged else "")
