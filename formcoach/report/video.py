"""Annotated video: the source frames with skeleton, joint angles, rep counter and cues drawn."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from formcoach.coach.result import SessionResult
from formcoach.coach.screen import fault_landmarks
from formcoach.errors import InputError
from formcoach.io_utils import Cv2OutputFile, check_output_path, cv2_input_path, display_path
from formcoach.kinematics.features import label_landmark
from formcoach.overlay import (
    FAULT_TEXT,
    MUTED,
    VIDEO_BONES,
    VIDEO_JOINTS,
    WHITE,
    YELLOW,
    AngleLabel,
    PanelLine,
    Rect,
    VideoStyle,
    choose_panel,
    draw_labels,
    draw_panel,
    draw_pose,
    panel_rect,
    panel_size,
    place_labels,
    text_size,
    wrap_text,
)
from formcoach.rules.engine import Rule
from formcoach.rules.explain import explain_fault, fault_name, rules_by_id
from formcoach.skeleton import JOINT_TRIPLES
from formcoach.types import NS_PER_S, Fault, RepEvent

log = logging.getLogger(__name__)

#: How long a cue / fault label stays on screen after its time, s.
CUE_SHOW_S = 2.0


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
    scene: _Scene | None = None
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
                if scene is None:
                    scene = _scene(result, (img.shape[1], img.shape[0]))
                _annotate(img, src_to_i.get(j), j, fps, result, scene)
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


#: Left and right angle numbers closer than this many label heights (a side view: both joints
#: drawn on top of each other) show only the judged side's.
SAME_SPOT_LABELS = 3.0


@dataclass(frozen=True, slots=True)
class _Scene:
    """What every frame of one annotated video shares: sizes, where the panel goes, the rules.

    ``t_s``: seconds from the session start per analysed frame, ``(n,)``.
    """

    style: VideoStyle
    size: tuple[int, int]
    corner: str
    max_w: int
    names: tuple[str, ...]
    rules: dict[str, Rule]
    t_s: np.ndarray


def _scene(result: SessionResult, size: tuple[int, int]) -> _Scene:
    """The :class:`_Scene` of ``result`` drawn on frames of ``size`` = (width, height) px."""
    style = VideoStyle.for_frame(*size)
    names = tuple(j for j in result.metrics.joints
                  if j in result.features and label_landmark(j) is not None)
    min_w = text_size("Reps 10 of 10 - bottom", style.text_px)[0] + 2 * style.pad
    rules = rules_by_id(result.exercise)
    # The panel is largest while the most cues and faults show: at one of their start times.
    starts = sorted({0.0} | {c.t_s for c in result.cues} | {result.rel_s(f.t_ns)
                                                            for f in result.faults})
    n = max(1, len(result.reps))

    def panel_at(max_w: int) -> tuple[int, int]:
        probe = _Scene(style, size, "top-left", max_w, names, rules, np.zeros(0))
        sizes = [panel_size(_panel_lines(result, probe, None, t, _faults_on_screen(result, t),
                                         n_done=n, phase="bottom"), style) for t in starts]
        return max(s[0] for s in sizes), max(s[1] for s in sizes)

    corner, max_w = choose_panel(_body_box(result.poses, size, style), size, panel_at, min_w,
                                 style)
    return _Scene(style, size, corner, max_w, names, rules,
                  (np.asarray(result.t_ns) - result.start_ns) / NS_PER_S)


def _body_box(poses: np.ndarray | None, size: tuple[int, int], style: VideoStyle) -> Rect | None:
    """The box the person moves in over the clip (5th-95th percentile of each frame's pose
    extent, plus a margin), px; None without poses."""
    if poses is None or not len(poses):
        return None
    xy = np.asarray(poses, np.float64)[:, :, :2]
    seen: np.ndarray = np.any(np.all(np.isfinite(xy), axis=2), axis=1)
    if not seen.any():
        return None
    xy = xy[seen]
    lo, hi = np.nanmin(xy, axis=1), np.nanmax(xy, axis=1)  # (n, 2) each
    x0, y0 = np.percentile(lo, 5, axis=0)
    x1, y1 = np.percentile(hi, 95, axis=0)
    w, h = size
    m = style.margin
    return Rect(max(0, round(x0) - m), max(0, round(y0) - m), min(w, round(x1) + m),
                min(h, round(y1) + m))


def _judged_side(pose: np.ndarray, rep: RepEvent | None) -> str:
    """The side the rules judge at this frame: the rep's, else the more visible one."""
    if rep is not None and rep.side in ("left", "right"):
        return rep.side
    if pose.shape[1] >= 4:
        vis = np.nan_to_num(pose[11:33, 3], nan=0.0)
        left, right = float(vis[0::2].sum()), float(vis[1::2].sum())
        return "left" if left >= right else "right"
    return "left"


def _away(pose: np.ndarray, name: str) -> tuple[float, float]:
    """Unit direction from a joint to the outside of its angle (up-right when undefined)."""
    tri = JOINT_TRIPLES.get(name)
    if tri is not None:
        a, b, c = (pose[k, :2].astype(np.float64) for k in tri)
        if np.isfinite([a, b, c]).all():
            u, v = a - b, c - b
            nu, nv = float(np.hypot(*u)), float(np.hypot(*v))
            if nu > 0 and nv > 0:
                s = u / nu + v / nv
                ns = float(np.hypot(*s))
                if ns > 0.2:
                    return float(-s[0] / ns), float(-s[1] / ns)
                return float(-u[1] / nu), float(u[0] / nu)  # straight: square to the limb
    return 0.7071, -0.7071


def _angle_labels(pose: np.ndarray, values: dict[str, float], side: str,
                  style: VideoStyle) -> list[AngleLabel]:
    """The angle numbers to place at frame ``pose``, judged side first; of a left/right pair at
    (nearly) the same spot, only the ``side`` one (never two numbers on one joint)."""
    spots: dict[str, tuple[float, float]] = {}
    for name, v in values.items():
        lm = label_landmark(name)
        if lm is None or not np.isfinite(v):
            continue
        xy = pose[lm, :2]
        if np.isfinite(xy).all():
            spots[name] = (float(xy[0]), float(xy[1]))
    other = "right" if side == "left" else "left"
    near = SAME_SPOT_LABELS * style.label_px
    keep = []
    for name, spot in spots.items():
        if name.startswith(f"{other}_"):
            twin = spots.get(f"{side}_{name.removeprefix(f'{other}_')}")
            if twin is not None and math.dist(spot, twin) < near:
                continue
        keep.append(name)
    keep.sort(key=lambda n: not n.startswith(f"{side}_"))
    return [AngleLabel(f"{values[n]:.0f}", spots[n], _away(pose, n)) for n in keep]


def _phase(rep: RepEvent | None, k: int | None) -> str:
    if rep is None or k is None:
        return ""
    return "down" if k < rep.bottom_frame else ("bottom" if k == rep.bottom_frame else "up")


def _fault_lines(f: Fault, rule: Rule | None, style: VideoStyle, width: int) -> list[PanelLine]:
    """A fault in the words of the report and the workspace: its name (red), then the measured
    value against the limit, wrapped to ``width`` px."""
    out = [PanelLine(t, FAULT_TEXT) for t in wrap_text(fault_name(f.rule_id), style.text_px, width)]
    detail = explain_fault(f, rule)
    for part in detail.replace(", limit ", "\nlimit ").split("\n"):
        out += [PanelLine(t, WHITE, 0.85)
                for t in wrap_text(part, 0.85 * style.text_px, width)]
    return out


def _panel_lines(result: SessionResult, scene: _Scene, k: int | None, t: float,
                 faults: Sequence[Fault], n_done: int | None = None,
                 phase: str | None = None) -> list[PanelLine]:
    """The corner panel at stream frame ``k`` (None: not analysed) and session time ``t`` s:
    reps counted and the phase, the time, cues shown for :data:`CUE_SHOW_S` s, and the faults
    ``faults`` now on screen. ``n_done`` / ``phase`` override the reps counted and the phase
    (to size the panel)."""
    st, width = scene.style, scene.max_w - 2 * scene.style.pad
    reps = result.reps
    # A rep counts on screen from the moment it was counted (as live), not from its end.
    done = (sum(1 for r in reps if r.counted_frame <= k) if k is not None
            else sum(1 for r in reps if result.rel_s(r.counted_ns) <= t))
    done = done if n_done is None else n_done
    if phase is None:
        cur = next((r for r in reps if k is not None and r.start_frame <= k <= r.end_frame),
                   None)
        phase = _phase(cur, k)
    lines = [PanelLine(f"Reps {done} of {len(reps)}" + (f" - {phase}" if phase else "")),
             PanelLine(f"{t:.2f} s", MUTED, 0.8)]
    for c in result.cues:
        if c.t_s <= t < c.t_s + CUE_SHOW_S:
            lines += [PanelLine(x, YELLOW, 0.9)
                      for x in wrap_text(f'Cue: "{c.text}"', 0.9 * st.text_px, width)]
    if faults:  # the first in full; any others at the same moment by name
        lines += _fault_lines(faults[0], scene.rules.get(faults[0].rule_id), st, width)
    if len(faults) > 1:
        also = "also: " + ", ".join(fault_name(f.rule_id) for f in faults[1:])
        lines += [PanelLine(x, FAULT_TEXT, 0.85) for x in wrap_text(also, 0.85 * st.text_px, width)]
    return lines


def _faults_on_screen(result: SessionResult, t: float) -> list[Fault]:
    """Faults shown at session time ``t`` s (for half of :data:`CUE_SHOW_S` after their time)."""
    return [f for f in result.faults
            if result.rel_s(f.t_ns) <= t < result.rel_s(f.t_ns) + CUE_SHOW_S / 2]


def _annotate(img: np.ndarray, i: int | None, j: int, fps: float, result: SessionResult,
              scene: _Scene) -> None:
    """Draw the analysis of analysed frame ``i`` (None: not analysed) on source frame ``j``,
    in place: the skeleton (judged side brighter, the shown fault's bones red), the angle
    numbers where they collide with nothing, and the corner panel."""
    st = scene.style
    t = float(scene.t_s[i]) if i is not None else j / fps
    k = None if i is None else i + result.frame_offset
    faults = _faults_on_screen(result, t)
    lines = _panel_lines(result, scene, k, t, faults)
    panel = panel_rect(scene.corner, scene.size, panel_size(lines, st), st)
    poses = result.poses
    if i is not None and poses is not None and i < len(poses):
        pose = np.asarray(poses[i], np.float64)
        cur = next((r for r in result.reps if k is not None and r.start_frame <= k <= r.end_frame),
                   None)
        side = _judged_side(pose, cur)
        hot: frozenset[int] = frozenset()
        for f in faults:
            rule = scene.rules.get(f.rule_id)
            if rule is not None:
                hot |= fault_landmarks(rule.feature_names)
        draw_pose(img, pose, st, side, hot)
        values = {n: float(np.asarray(result.features[n])[i]) for n in scene.names}
        ok: np.ndarray = np.all(np.isfinite(pose[:, :2]), axis=1)
        bones = [(tuple(pose[a, :2]), tuple(pose[b, :2])) for a, b in VIDEO_BONES
                 if ok[a] and ok[b]]
        joints = [tuple(pose[q, :2]) for q in VIDEO_JOINTS if ok[q]]
        placed = place_labels(_angle_labels(pose, values, side, st), st, scene.size,
                              avoid=[panel], bones=bones, joints=joints)  # type: ignore[arg-type]
        draw_labels(img, placed, st)
    draw_panel(img, lines, panel, st)
