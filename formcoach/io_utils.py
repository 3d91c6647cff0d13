"""Small file helpers: atomic writes with user-only permissions, hashing, and file names that
OpenCV can take (it crashes on names that are not valid UTF-8)."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from formcoach.errors import InputError


def check_output_path(path: str | os.PathLike[str], what: str = "") -> Path:
    """Fail early, with one line, when ``path`` cannot be written as a file; returns its folder.

    Args:
        path: the output file.
        what: what it is (``"report"``, ``"CSV"``...), for the message.

    Raises:
        InputError: its folder does not exist, or ``path`` is a folder, a device or a pipe
            (every output is written beside it and renamed onto it, which would replace a
            device such as ``/dev/null`` with a file).
    """
    path = Path(path)
    label = f"{what} {display_path(path)}" if what else display_path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"cannot write {label}: folder {display_path(folder)} does not exist")
    if path.is_dir():
        raise InputError(f"cannot write {label}: it is a folder; give a file name")
    if path.exists() and not path.is_file():
        raise InputError(f"cannot write {label}: it is a device or a pipe, not a file; "
                         "give a file name")
    return folder


def display_path(path: str | os.PathLike[str]) -> str:
    """``path`` as printable text: bytes that are not UTF-8 shown as ``\\xNN`` (never raises).

    Printing a name with surrogate escapes (a non-UTF-8 file name) raises UnicodeEncodeError
    on a UTF-8 terminal; this form can always be printed, logged and stored.
    """
    raw = os.fsencode(path)
    return raw.decode("utf-8", "backslashreplace")


def _cv2_safe(name: str) -> bool:
    """True when OpenCV can take ``name`` as it is (it must encode as strict UTF-8)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _ascii_suffix(path: Path, default: str = "") -> str:
    suf = path.suffix
    return suf if suf and suf.isascii() and suf[1:].isalnum() else default


@contextmanager
def cv2_input_path(path: str | os.PathLike[str]) -> Iterator[str]:
    """A name OpenCV can open for the existing file ``path``, valid inside the ``with`` block.

    A UTF-8 name is yielded as it is. Any other (bytes the OS accepts but that are not UTF-8,
    which crash OpenCV) is reached through an ASCII-named symlink in a private temporary
    folder (mode 0700), removed afterwards.

    Raises:
        InputError: the symlink cannot be made.
    """
    name = os.fspath(path)
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    if _cv2_safe(name):
        yield name
        return
    try:
        folder = tempfile.mkdtemp(prefix="formcoach-")
        link = os.path.join(folder, "input" + _ascii_suffix(Path(name)))
        os.symlink(os.path.abspath(name), link)
    except OSError as e:
        raise InputError(
            f"cannot open {display_path(name)}: its name is not UTF-8 and no temporary link "
            f"could be made ({e.strerror or e}); rename the file"
        ) from e
    try:
        yield link
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class Cv2OutputFile:
    """A temp file beside ``path`` for OpenCV to write, renamed onto ``path`` by :meth:`commit`.

    ``cv2_name`` is what to hand OpenCV (ASCII file name; reached through a private symlink to
    the folder when the folder's name is not UTF-8); ``tmp`` is the real temp file. The suffix
    of ``path`` is kept (ASCII only, else ``default_suffix``) so the container is chosen alike.
    Use as a context manager: leaving it without :meth:`commit` removes the temp file, so a
    partial file never survives.

    Raises:
        InputError: the folder is missing or not writable.
    """

    def __init__(self, path: str | os.PathLike[str], default_suffix: str = "") -> None:
        self.path = Path(path)
        self.tmp = ""
        folder = os.path.abspath(check_output_path(self.path))
        self._link_dir: str | None = None
        try:
            fd, self.tmp = tempfile.mkstemp(
                prefix=".formcoach-", suffix=_ascii_suffix(self.path, default_suffix), dir=folder
            )
            os.close(fd)
            os.chmod(self.tmp, 0o600)
            self.cv2_name = self.tmp
            if not _cv2_safe(folder):
                self._link_dir = tempfile.mkdtemp(prefix="formcoach-")
                os.symlink(folder, os.path.join(self._link_dir, "out"))
                self.cv2_name = os.path.join(self._link_dir, "out", os.path.basename(self.tmp))
        except OSError as e:
            self.close()
            raise InputError(f"cannot write {display_path(self.path)}: {e.strerror or e}") from e

    def commit(self) -> None:
        """Flush the finished temp file to disk and rename it onto the target.

        Raises:
            InputError: the flush or rename failed (e.g. the disk is full).
        """
        try:
            fd = os.open(self.tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.chmod(self.tmp, 0o600)
            os.replace(self.tmp, self.path)
        except OSError as e:
            raise InputError(f"cannot write {display_path(self.path)}: {e.strerror or e}") from e
        self.tmp = ""

    def close(self) -> None:
        """Remove the temp file (unless committed) and the private link folder."""
        tmp = self.tmp
        if tmp:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            self.tmp = ""
        if self._link_dir is not None:
            shutil.rmtree(self._link_dir, ignore_errors=True)
            self._link_dir = None

    def __enter__(self) -> Cv2OutputFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _file_key(path: Path) -> tuple[int, int, str]:
    """Identity of a file (existing: device and inode), else of its folder plus its name."""
    try:
        st = os.stat(path)
        return (st.st_dev, st.st_ino, "")
    except OSError:
        pass
    folder = path.parent if str(path.parent) else Path(".")
    try:
        st = os.stat(folder)
    except OSError:
        return (-1, -1, os.path.abspath(path))
    return (st.st_dev, st.st_ino, path.name)


def check_distinct_outputs(
    inputs: Iterable[tuple[str, str | os.PathLike[str] | None]],
    outputs: Iterable[tuple[str, str | os.PathLike[str] | None]],
) -> None:
    """Refuse an output that is one of the inputs (same file, by device and inode: also through
    links) or that another output names too. Call it before any work.

    Args:
        inputs: ``(option, path or None)``, e.g. ``("VIDEO", args.video)``.
        outputs: ``(option, path or None)``, e.g. ``("--report", args.report)``.

    Raises:
        InputError: names the two options and the file.
    """
    seen: dict[tuple[int, int, str], str] = {}
    for what, p in inputs:
        if p is None:
            continue
        try:
            st = os.stat(p)
        except OSError:
            continue
        seen.setdefault((st.st_dev, st.st_ino, ""), f"input {what}")
    for what, p in outputs:
        if p is None:
            continue
        key = _file_key(Path(p))
        other = seen.get(key)
        if other is not None:
            verb = "would overwrite the" if other.startswith("input") else "names the same file as"
            raise InputError(
                f"{what} {display_path(p)} {verb} {other}; give a different output file name"
            )
        seen[key] = what


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
        raise InputError(f"cannot write {display_path(path)}: {e.strerror or e}") from e
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


#: Seconds from the QuickTime/MP4 epoch (1904-01-01 UTC) to the Unix epoch.
_MP4_EPOCH_OFFSET_S = 2_082_844_800


def mp4_creation_time(path: str | os.PathLike[str]) -> float | None:
    """The ``creation_time`` of an MP4/MOV file's movie header (``moov/mvhd``) as Unix seconds,
    or None: not an MP4, no header, or a zero/implausible time (writers such as OpenCV leave
    it 0). Reads only box headers (never the whole file); never raises."""
    import struct

    def boxes(f: object, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
        pos = start
        while pos + 8 <= end:
            f.seek(pos)  # type: ignore[attr-defined]
            head = f.read(16)  # type: ignore[attr-defined]
            if len(head) < 8:
                return
            size, kind = struct.unpack(">I4s", head[:8])
            body = pos + 8
            if size == 1 and len(head) >= 16:
                size = struct.unpack(">Q", head[8:16])[0]
                body = pos + 16
            elif size == 0:
                size = end - pos
            if size < body - pos or pos + size > end:
                return
            yield kind, body, pos + size
            pos += size

    try:
        with open(path, "rb") as f:
            total = os.fstat(f.fileno()).st_size
            for kind, body, end in boxes(f, 0, total):
                if kind != b"moov":
                    continue
                for sub, sbody, _ in boxes(f, body, end):
                    if sub != b"mvhd":
                        continue
                    f.seek(sbody)
                    head = f.read(12)
                    if len(head) < 8:
                        return None
                    t = struct.unpack(">Q", head[4:12])[0] if head[0] == 1 else \
                        struct.unpack(">I", head[4:8])[0]
                    unix = float(t) - _MP4_EPOCH_OFFSET_S
                    # Before 2000 is a zero or made-up field, not a recording.
                    return unix if unix > 946_684_800 else None
                return None
    except (OSError, ValueError, struct.error):
        return None
    return None


def recorded_at(path: str | os.PathLike[str]) -> tuple[str, str]:
    """When a video was recorded: ``(ISO 8601 UTC time, where it came from)``, from the MP4
    movie header's ``creation_time`` (``"video metadata"``), else the file's modification time
    (``"file mtime"``: a copy or download may have reset it).

    Raises:
        OSError: the file cannot be read at all.
    """
    from datetime import UTC, datetime

    t = mp4_creation_time(path)
    src = "video metadata"
    if t is None:
        t = os.stat(path).st_mtime
        src = "file mtime"
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds"), src


def config_dir() -> Path:
    """formcoach's per-user config folder (``$FORMCOACH_CONFIG_DIR`` overrides platformdirs):
    camera and user profiles, this machine's pose-model speeds."""
    env = os.environ.get("FORMCOACH_CONFIG_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("formcoach"))
