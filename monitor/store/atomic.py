"""Atomic file replacement: a reader sees the old file or the complete new one, never a part.

Used for the near-duplicate index beside the database (``<database>.neardup.npz``), Markdown and
Atom digests (``delivery.channels.write_file_atomic``) and the compiled-watchlist cache. (``config.edit``
keeps its own temporary file: it validates it before the rename.)
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["write_atomic"]


def write_atomic(path: str | Path, data: bytes | Callable[[BinaryIO], object], *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` (bytes, or a function writing to a binary file object).

    A temporary file in the same directory is written, fsynced and renamed over ``path``
    (``os.replace``); the directory is fsynced too. On any error the temporary file is removed
    and the error raised; ``path`` is then unchanged.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            if isinstance(data, (bytes, bytearray, memoryview)):
                fh.write(data)
            else:
                data(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        tmp = ""
        try:
            dir_fd = os.open(path.parent, os.O_RDONLY)
        except OSError:
            return  # (some systems cannot open a directory: the rename is done all the same)
        try:
            os.fsync(dir_fd)
        except OSError:
            pass
        finally:
            os.close(dir_fd)
    finally:
        if tmp:
            try:
                os.unlink(tmp)
            except OSError:
                pass
