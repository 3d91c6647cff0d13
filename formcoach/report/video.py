"""Annotated video: the source frames with skeleton, joint angles, rep counter and cues drawn."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from formcoach.coach.result import SessionResult
from formcoach.errors import InputError
from formcoach.io_utils import Cv2OutputFile, check_output_path, cv2_input_path, display_path
from formcoach.kinematics.features import label_landmark
from formcoach.report.html import draw_skeleton
from formcoach.types import NS_PER_S, Fault, RepEvent

log = logging.getLogger(__name__)

#: How long a cue / fault label stays on screen after its time, s.
CUE_SHOW_S = 2.0


def _put(img: np.ndarray, text: str, org: tuple[int, int], scale: float,
         color: tuple[int, int, int] = (255, 255, 255)) -> None:
    import cv2

    th = max(1, round(scale * 2))
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), th + 2, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, color, th, cv2.LINE_AA)


def write_annotated_video(
    video_path: str | os.PathLike[str],
    result: SessionResult,
    out_path: str | os.PathLike[str],
    progress: bool = True,
) -> Path:
    """Write ``out_path`` (mp4v; VP8 for ``.webm``): every frame of ``video_path`` with the
    analysis drawn on it.

    Drawn: skeleton; the angle (deg) at each metric joint; ``rep k/N`` and the current rep's
    phase; cues for :data:`CUE_SHOW_S` s after their time; faults (red) at their frames.
    The file appears atomically (temp file + rename) with mode 0600.

    Raises:
        InputError: the video cannot be opened, or the output cannot be written.
    """
    from formcoach.sources import check_video_path

    video_path, out = Path(video_path), Path(out_path)
    check_video_path(video_path)
    check_output_path(out)
    with _quiet_opencv(), cv2_input_path(video_path) as cv_in, \
            Cv2OutputFile(out, default_suffix=".mp4") as tmp:
        n_written = _encode(cv_in, tmp.cv2_name, video_path, out, result, progress)
        _verify(tmp.tmp, tmp.cv2_name, out, n_written)
        tmp.commit()
    return out


@contextmanager
def _quiet_opencv() -> Iterator[None]:
    """OpenCV's own log silenced (FFmpeg's is, by OPENCV_FFMPEG_LOGLEVEL in the CLI): a failing
    write is reported once, by formcoach, not as dozens of warnings."""
    import cv2

    try:
        old = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except AttributeError:  # an OpenCV build without the logging module
        yield
        return
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(old)


def _encode(cv_in: str, cv_out: str, video_path: Path, out: Path, result: SessionResult,
            progress: bool) -> int:
    """Decode ``cv_in``, draw, encode to ``cv_out``; returns the number of frames written."""
    import cv2
    from tqdm import tqdm  # type: ignore[import-untyped]

    cap = cv2.VideoCapture(cv_in)
    if not cap.isOpened():
        cap.release()
        raise InputError(f"cannot open video for annotation: {display_path(video_path)}")
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) or float(result.fps)
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) or None
    n = len(result.signal)
    src_to_i = {i + result.frame_offset: i for i in range(n)}
    poses = result.poses
    features = result.features
    names = [j for j in result.metrics.joints if j in features and label_landmark(j) is not None]
    reps = result.reps
    cues = [(c.t_s, c.text, c.rule_id) for c in result.cues]
    faults = result.faults
    t_ns = (result.t_ns - result.start_ns)
    writer = None
    j = 0
    try:
        with tqdm(total=total, unit="frame", desc="annotating", disable=not progress,
                  leave=False) as bar:
            while True:
                ok, img = cap.read()
                if not ok or img is None:
                    break
                if writer is None:
                    h, w = img.shape[:2]
                    # .webm: VP8, which browsers play (the workspace shows it); else mp4v.
                    codec = "VP80" if out.suffix.lower() == ".webm" else "mp4v"
                    fourcc = cv2.VideoWriter_fourcc(*codec)  # type: ignore[attr-defined]
                    writer = cv2.VideoWriter(cv_out, fourcc, fps, (w, h))
                    if not writer.isOpened():
                        raise InputError(
                            f"cannot write video {display_path(out)} "
                            f"({codec} encoder unavailable, or the folder is not writable)"
                        )
                i = src_to_i.get(j)
                _annotate(img, i, j, fps, result, poses, names, reps, cues, faults, t_ns)
                if writer.write(img) is False:  # newer OpenCV builds report a failed write
                    raise InputError(
                        f"cannot write video {display_path(out)}: frame {j} could not be "
                        f"written ({_why_write_failed(out)}); no file was left"
                    )
                j += 1
                bar.update(1)
        if writer is None:
            raise InputError(f"video has no decodable frames: {display_path(video_path)}")
    finally:
        cap.release()
        if writer is not None:
            writer.release()
    return j


def _why_write_failed(out: Path) -> str:
    """A guess at why the encoder failed: a full disk when the folder has no space left."""
    try:
        st = os.statvfs(out.parent if str(out.parent) else ".")
    except OSError:
        return "is the disk full?"
    return "the disk is full" if st.f_bavail * st.f_frsize < (1 << 20) else "is the disk full?"


def _verify(tmp: str, cv_tmp: str, out: Path, n_written: int) -> None:
    """Reopen the finished temp file: it must decode with (about) as many frames as were written.

    FFmpeg only writes the index (moov atom) at the end; a full disk leaves a file that
    OpenCV accepted frame by frame but nobody can play.

    Raises:
        InputError: the file is empty, unreadable, or short of frames.
    """
    import cv2

    why = ""
    try:
        size = os.path.getsize(tmp)
    except OSError as e:
        size, why = 0, e.strerror or str(e)
    if size == 0:
        why = why or "nothing was written"
    else:
        cap = cv2.VideoCapture(cv_tmp)
        try:
            ok, img = cap.read() if cap.isOpened() else (False, None)
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if ok else 0
        finally:
            cap.release()
        if not ok or img is None:
            why = "the written file does not decode"
        elif count and count < n_written:
            why = f"only {count} of {n_written} frames were stored"
    if why:
        raise InputError(
            f"cannot write video {display_path(out)}: {why} ({_why_write_failed(out)}); "
            "no file was left"
        )


def _annotate(img: np.ndarray, i: int | None, j: int, fps: float, result: SessionResult,
              poses: np.ndarray | None, names: Sequence[str], reps: Sequence[RepEvent],
              cues: Sequence[tuple[float, str, str]], faults: Sequence[Fault],
              t_ns: np.ndarray) -> None:
    """Draw the analysis of analysed frame ``i`` (None: not analysed) on source frame ``j``."""
    h, w = img.shape[:2]
    scale = max(0.4, min(w, h) / 600)
    t = float(t_ns[i]) / NS_PER_S if i is not None else j / fps
    if i is not None and poses is not None and i < len(poses):
        pose = poses[i]
        draw_skeleton(img, pose)
        for name in names:
            v = np.asarray(result.features[name])[i]
            vert = pose[label_landmark(name), :2]
            if np.isfinite(v) and np.isfinite(vert).all():
                _put(img, f"{v:.0f}", (round(vert[0]) + 6, round(vert[1]) - 6), scale * 0.6,
                     (0, 255, 255))
    # A rep counts on screen from the moment it was counted (as live), not from its end.
    k = None if i is None else i + result.frame_offset
    done = (sum(1 for r in reps if r.counted_frame <= k) if k is not None
            else sum(1 for r in reps if result.rel_s(r.counted_ns) <= t))
    cur = next((r for r in reps if k is not None and r.start_frame <= k <= r.end_frame), None)
    phase = ""
    if cur is not None and k is not None:
        phase = "down" if k < cur.bottom_frame else ("bottom" if k == cur.bottom_frame else "up")
    _put(img, f"reps {done}/{len(reps)} {phase}", (10, round(30 * scale)), scale)
    _put(img, f"t {t:6.2f}s", (10, round(60 * scale)), scale * 0.7)
    y = round(95 * scale)
    for ct, text, _rule in cues:
        if ct <= t < ct + CUE_SHOW_S:
            _put(img, f"cue: {text}", (10, y), scale * 0.8, (0, 200, 255))
            y += round(30 * scale)
    for f in faults:
        ft = result.rel_s(f.t_ns)
        if ft <= t < ft + CUE_SHOW_S / 2:
            _put(img, f"fault: {f.rule_id}", (10, y), scale * 0.8, (60, 60, 255))
            y += round(30 * scale)
