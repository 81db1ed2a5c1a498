"""Errors a user can meet.

Every exception here carries a message that names the file, row or value at fault and says what to do.
The command-line tools print such an error on one line, without a traceback, and exit non-zero
(see :mod:`fashion_seg.cli`). Anything else escaping a tool is a bug and keeps its traceback.

:func:`file_error` is the one place that decides which failures of the operating system are the user's to fix (a
file that cannot be read for lack of permission, a folder where a file should be, a full disk) rather than bugs.
"""

from __future__ import annotations

import errno
import os


class FashionSegError(Exception):
    """Base class of the errors a user can cause or fix."""


class ConfigError(FashionSegError, ValueError):
    """An impossible or unknown configuration value."""


class DataError(FashionSegError, ValueError):
    """A bad data file: CSV, JSON, image or RLE string."""


class RLEError(DataError):
    """A malformed Kaggle run-length encoding."""


class WeightsError(FashionSegError):
    """A weights file that is missing, truncated or does not fit the model."""


class RemoteError(FashionSegError):
    """A failure talking to a remote host (DNS, refused, auth, host key, timeout)."""


class FileAccessError(FashionSegError):
    """A file that cannot be read or written: no permission, a directory in its place, a full or read-only disk."""


# What the user can fix about a file; any other OSError (a bad file descriptor, an invalid argument) is a bug.
_READ_ERRNOS = {errno.ENOENT: "does not exist", errno.EACCES: "permission denied (check its mode and owner)",
                errno.EPERM: "operation not permitted (check its mode and owner)",
                errno.EISDIR: "is a directory, not a file", errno.ENOTDIR: "a part of the path is not a directory",
                errno.EEXIST: "exists already, and is not a folder",
                errno.ENAMETOOLONG: "the name is too long", errno.ELOOP: "too many symbolic links"}
_WRITE_ERRNOS = {errno.ENOSPC: "no space left on the disk", errno.EDQUOT: "disk quota exceeded",
                 errno.EROFS: "the file system is read-only", errno.EFBIG: "file too large for the file system"}
EXPECTED_ERRNOS = {**_READ_ERRNOS, **_WRITE_ERRNOS}
WRITE_ERRNOS = {**_WRITE_ERRNOS, **{code: _READ_ERRNOS[code] for code in (errno.EACCES, errno.EPERM, errno.ENOTDIR,
                                                                          errno.EISDIR, errno.EEXIST)}}


def file_error(error: OSError, path: str | os.PathLike | None = None,
               writing: bool = False) -> FileAccessError | None:
    """The one-line :class:`FileAccessError` for an expected failure of the file ``path`` (default: the one the
    error names), or None when ``error`` is not one a user can fix (then it is a bug and keeps its traceback).
    ``writing``: the error came from writing ``path``, so only a full, read-only or forbidden disk counts."""
    path = path if path is not None else error.filename
    known = WRITE_ERRNOS if writing else EXPECTED_ERRNOS
    if error.errno not in known or path is None:
        return None
    reason = known[error.errno]
    culprit = os.path.abspath(error.filename) if error.filename is not None else None
    # A folder on the way to ``path`` is named; ``path`` itself or a file beside it (a temporary file) is not.
    if culprit is not None and os.path.dirname(culprit) != os.path.dirname(os.path.abspath(path)):
        reason = f"{error.filename}: {reason}"
    return FileAccessError(f"{'cannot write ' if writing else ''}{path}: {reason}")
