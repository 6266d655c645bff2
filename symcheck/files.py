"""Files given on the command line: only regular files are read or written.

A FIFO, a device or a directory is refused with one line before it is used:
reading a FIFO blocks until a writer appears, a device such as ``/dev/zero``
never ends, and writing to ``/dev/full`` or a directory cannot succeed. The
input file is opened non-blocking and checked with ``fstat`` on the open
descriptor, so it cannot be swapped for a FIFO between the check and the read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from symcheck.errors import InvalidArgument

__all__ = ["check_output_path", "read_regular"]


def _kind(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def read_regular(path: object, *, what: str, limit: int) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them.

    Raises :class:`InvalidArgument` (naming ``what``) when the path is not a
    string, does not exist, is not a regular file, or holds more than
    ``limit`` bytes.
    """
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise InvalidArgument(f"{what} path={path!r} must be a non-empty file path")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise InvalidArgument(f"{what} {str(path)!r} cannot be read: {exc.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise InvalidArgument(
            f"{what} {str(path)!r} is {_kind(info.st_mode)}, not a regular file; "
            "give the path of a file"
        )
    with os.fdopen(fd, "rb") as handle:
        if info.st_size > limit:
            raise InvalidArgument(
                f"{what} {str(path)!r} has {info.st_size} bytes, beyond the limit of {limit}"
            )
        raw = handle.read(limit + 1)
    if len(raw) > limit:
        raise InvalidArgument(f"{what} {str(path)!r} is larger than the limit of {limit} bytes")
    return raw


def check_output_path(path: object, *, what: str) -> Path:
    """``path`` as a :class:`Path` if a regular file may be written there.

    Refuses an empty path, a missing directory, and an existing path that is
    not a regular file (a directory, FIFO or device such as ``/dev/full``).
    """
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise InvalidArgument(f"{what}={path!r} must be a non-empty file path, e.g. out.png")
    out = Path(path)
    parent = out.parent
    if not parent.is_dir():
        raise InvalidArgument(
            f"{what}={str(path)!r}: directory {str(parent)!r} does not exist; create it first"
        )
    try:
        info = out.stat()
    except FileNotFoundError:
        return out
    except OSError as exc:
        raise InvalidArgument(f"{what}={str(path)!r} cannot be used: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise InvalidArgument(
            f"{what}={str(path)!r} is {_kind(info.st_mode)}; give the path of a regular file"
        )
    return out
