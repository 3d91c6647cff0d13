"""The workspace's videos: uploads written atomically beside the database
(``<db folder>/videos/<sha256>.<ext>``, mode 0600), browser-playable copies (VP8 WebM: the
bundled OpenCV has no H.264 encoder, and browsers do not play the mp4v it writes); Starlette's
``FileResponse`` answers the range requests a ``<video>`` element seeks with.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from formcoach.errors import InputError
from formcoach.io_utils import Cv2OutputFile, cv2_input_path, display_path

log = logging.getLogger(__name__)

#: Upload size limit, bytes (a phone's minute of 1080p is ~ 100-200 MB).
MAX_UPLOAD_BYTES = 512 * 1024 * 1024
#: Video file types the import accepts.
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm")
CHUNK = 1 << 20


class UploadTooLarge(InputError):
    """An upload over the size limit (answered 413)."""


def video_dir(db_path: Path) -> Path:
    """``<db folder>/videos`` (created 0700)."""
    d = db_path.expanduser().parent / "videos"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


def check_upload_name(name: str) -> str:
    """The lower-case suffix of an uploaded file name (raises InputError if not a video)."""
    suffix = Path(name or "").suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise InputError(f"{name or 'the upload'!r} is not a video file this import takes "
                         f"({', '.join(VIDEO_SUFFIXES)})")
    return suffix


async def save_upload(chunks: AsyncIterator[bytes], folder: Path, suffix: str,
                      limit: int = MAX_UPLOAD_BYTES) -> tuple[Path, str]:
    """Write an upload to ``folder/<sha256><suffix>`` atomically (temp file, fsync, rename),
    mode 0600; an identical earlier upload is reused.

    Returns:
        ``(path, sha256)``.

    Raises:
        InputError: empty; UploadTooLarge: over ``limit`` bytes (nothing is left behind).
    """
    fd, tmp = tempfile.mkstemp(prefix=".upload-", suffix=suffix, dir=folder)
    h = hashlib.sha256()
    n = 0
    try:
        with os.fdopen(fd, "wb") as f:
            async for chunk in chunks:
                n += len(chunk)
                if n > limit:
                    raise UploadTooLarge(f"the video is larger than the {limit // (1 << 20)} MB "
                                     "upload limit")
                h.update(chunk)
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        if n == 0:
            raise InputError("the uploaded file is empty")
        os.chmod(tmp, 0o600)
        out = folder / f"{h.hexdigest()}{suffix}"
        os.replace(tmp, out)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return out, h.hexdigest()


def browser_copy(src: Path, out: Path) -> Path:
    """``out`` (VP8 WebM): every frame of ``src`` at its frame rate, so the times match the
    analysis. Written once (atomically); an existing ``out`` newer than ``src`` is reused.

    Raises:
        InputError: the video cannot be read or the copy written.
    """
    import cv2

    if out.is_file() and out.stat().st_mtime >= src.stat().st_mtime:
        return out
    with cv2_input_path(src) as cv_in, Cv2OutputFile(out, default_suffix=".webm") as tmp:
        cap = cv2.VideoCapture(cv_in)
        writer = None
        n = 0
        try:
            if not cap.isOpened():
                raise InputError(f"cannot open video {display_path(src)}")
            fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) or 30.0
            while True:
                ok, img = cap.read()
                if not ok or img is None:
                    break
                if writer is None:
                    h, w = img.shape[:2]
                    writer = cv2.VideoWriter(tmp.cv2_name, cv2.VideoWriter_fourcc(*"VP80"),  # type: ignore[attr-defined]
                                             fps, (w, h))
                    if not writer.isOpened():
                        raise InputError(f"cannot write {display_path(out)} (no VP8 encoder)")
                writer.write(img)
                n += 1
        finally:
            cap.release()
            if writer is not None:
                writer.release()
        if n == 0:
            raise InputError(f"video has no decodable frames: {display_path(src)}")
        tmp.commit()
    log.info("browser copy of %s: %s (%d frames)", display_path(src), display_path(out), n)
    return out

