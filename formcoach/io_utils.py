"""Small file helpers: atomic writes with user-only permissions, hashing."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from formcoach.errors import InputError


def check_output_path(path: str | os.PathLike[str], what: str = "") -> Path:
    """Fail early, with one line, when ``path`` cannot be written as a file; returns its folder.

    Args:
        path: the output file.
        what: what it is (``"report"``, ``"CSV"``...), for the message.

    Raises:
        InputError: its folder does not exist, or ``path`` is a folder.
    """
    path = Path(path)
    label = f"{what} {path}" if what else str(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"cannot write {label}: folder {folder} does not exist")
    if path.is_dir():
        raise InputError(f"cannot write {label}: it is a folder; give a file name")
    return folder


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder, then rename.

    A crash or full disk leaves either the old file or none, never a partial one. The file is
    created with ``mode`` (user-only by default: reports and tracks describe people's bodies).

    Raises:
        InputError: the folder does not exist or is not writable, or the disk is full.
    """
    path = Path(path)
    folder = check_output_path(path)
    tmp_name = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror or e}") from e
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass


def atomic_write_text(path: str | os.PathLike[str], text: str, mode: int = 0o600) -> None:
    """Text version of :func:`atomic_write_bytes` (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"), mode)


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
