"""Ground truth and rendering of one synthetic sample.

:func:`truth_poses` is the fast path (no drawing) for unit tests; :func:`render_sample` writes
``<out>/<name>.mp4`` and ``<out>/<name>.json`` (ground truth, see ``samples/README.md``).
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from formcoach import __version__
from formcoach.errors import InputError
from formcoach.io_utils import Cv2OutputFile, atomic_write_bytes, atomic_write_text, display_path
from formcoach.skeleton import JOINT_TRIPLES, LANDMARK_NAMES, LM
from formcoach.synth.body import joint_angles, joints_3d
from formcoach.synth.camera import Camera
from formcoach.synth.motion import Motion, build_motion
from formcoach.synth.spec import SynthSpec

__all__ = [
    "TRUTH_FORMAT", "SynthTruth", "compute_truth", "load_truth", "render_sample", "truth_poses",
]

log = logging.getLogger(__name__)

TRUTH_FORMAT = "formcoach-synth/1"
#: Largest ground-truth JSON :func:`load_truth` accepts, bytes (a 10-minute render is a few MB).
MAX_TRUTH_BYTES = 64 << 20
#: Largest total of the ground-truth arrays (the sibling ``.npz``), bytes.
MAX_TRUTH_ARRAY_BYTES = 1 << 30
_FLOOR = ("pushup", "plank", "situp")


@dataclass
class SynthTruth:
    """Everything known about a sample, before rendering.

    Attributes:
        motion: the seeded motion (pose function, reps, fault spans).
        camera: the camera used for projection.
        joints_3d: ``(T, 33, 3)`` world metres.
        poses: ``(T, 33, 4)`` x px, y px, z (depth relative to the hip centre, px scale), vis 1.
        angles_3d: name -> ``(T,)`` degrees from the 3D joints (JOINT_TRIPLES).
        angles_2d: name -> ``(T,)`` degrees from the projected pixel joints.
    """

    motion: Motion
    camera: Camera
    joints_3d: np.ndarray
    poses: np.ndarray
    angles_3d: dict[str, np.ndarray]
    angles_2d: dict[str, np.ndarray]

    @property
    def fps(self) -> float:
        return float(self.motion.spec.fps)

    @property
    def n_frames(self) -> int:
        return int(self.joints_3d.shape[0])


def _frame_camera(spec: SynthSpec, j3: np.ndarray) -> Camera:
    """Camera at the spec's azimuth that frames every joint (with a margin for limb thickness)."""
    s = spec.body_height_m / 1.75
    margin = 0.16 * s
    lo = j3.reshape(-1, 3).min(axis=0) - margin
    hi = j3.reshape(-1, 3).max(axis=0) + margin
    lo[1] = max(lo[1], 0.0)
    if spec.framing == "head_cut":  # the picture ends at the shoulders of the standing body
        shoulders = 0.5 * (j3[:, LM.LEFT_SHOULDER, 1] + j3[:, LM.RIGHT_SHOULDER, 1])
        hi[1] = float(np.max(shoulders))
    elif spec.framing == "feet_cut":  # the picture ends at mid-shin
        shin = 0.25 * (j3[:, LM.LEFT_KNEE, 1] + j3[:, LM.RIGHT_KNEE, 1]
                       + j3[:, LM.LEFT_ANKLE, 1] + j3[:, LM.RIGHT_ANKLE, 1])
        lo[1] = float(np.min(shin))
    centre = 0.5 * (lo + hi)
    floor_ex = spec.exercise in _FLOOR
    cam_h = spec.camera_height_m
    if cam_h is None:
        cam_h = (centre[1] + 0.5) if floor_ex else (centre[1] + 0.25)
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1])
                        for z in (lo[2], hi[2])])
    pts = np.vstack([np.clip(j3.reshape(-1, 3), lo, hi), corners])
    dist = spec.distance_m or 3.0
    for _ in range(8 if spec.distance_m is None else 1):
        cam = Camera.create(spec.width, spec.height, spec.hfov_deg, spec.azimuth, dist, cam_h,
                            tuple(centre))
        if spec.distance_m is not None:
            break
        c = cam.to_camera(pts)
        if np.any(c[:, 2] < 0.3):
            dist *= 1.5
            continue
        uv = cam.project(pts)
        ext = max(float(np.max(np.abs(uv[:, 0] - cam.cx))) / (0.46 * spec.width),
                  float(np.max(np.abs(uv[:, 1] - cam.cy))) / (0.46 * spec.height))
        dist = max(dist * (0.3 + 0.7 * ext), 0.9)
    cam = Camera.create(spec.width, spec.height, spec.hfov_deg, spec.azimuth, dist, cam_h,
                        tuple(centre))
    if spec.framing == "full":
        return cam
    for _ in range(3):  # a close camera: the kept part of the body fills the frame's height
        v = cam.project(pts)[:, 1]
        dist = max(dist * float(np.ptp(v)) / (0.94 * spec.height), 0.9)
        cam = Camera.create(spec.width, spec.height, spec.hfov_deg, spec.azimuth, dist, cam_h,
                            tuple(centre))
    # Move the principal point (a crop of a larger sensor) so that the cut edge is the frame's.
    mids = (LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER) if spec.framing == "head_cut" else (
        LM.LEFT_KNEE, LM.RIGHT_KNEE, LM.LEFT_ANKLE, LM.RIGHT_ANKLE)
    v = cam.project(j3[:, list(mids)].mean(axis=1))[:, 1]
    shift = (0.03 * spec.height - float(np.min(v)) if spec.framing == "head_cut"
             else 0.97 * spec.height - float(np.max(v)))
    return dataclasses.replace(cam, cy=cam.cy + shift)


def compute_truth(spec: SynthSpec) -> SynthTruth:
    """The exact poses, angles and camera of ``spec`` (no rendering)."""
    motion = build_motion(spec)
    n = max(1, round(motion.duration_s * spec.fps))
    states = [motion.state(i / spec.fps) for i in range(n)]
    j3 = np.stack([joints_3d(s, motion.props) for s in states])
    cam = _frame_camera(spec, j3)
    proj = cam.project(j3)
    hip_depth = 0.5 * (proj[:, LM.LEFT_HIP, 2] + proj[:, LM.RIGHT_HIP, 2])
    poses = np.empty((n, 33, 4))
    poses[..., :2] = proj[..., :2]
    poses[..., 2] = (proj[..., 2] - hip_depth[:, None]) * cam.fx / hip_depth[:, None]
    poses[..., 3] = 1.0
    return SynthTruth(motion, cam, j3, poses, joint_angles(j3, JOINT_TRIPLES),
                      joint_angles(proj[..., :2], JOINT_TRIPLES))


def truth_poses(spec: SynthSpec) -> tuple[np.ndarray, float, dict[str, Any]]:
    """Ground-truth pixel poses without rendering (fast; for unit tests of other stages).

    Returns:
        ``(poses, fps, truth)``: poses ``(T, 33, 4)`` float64 (x px, y px, z, visibility 1), with
        ``spec.landmark_noise_px`` seeded Gaussian noise added to x, y; the float fps; and the
        ground-truth dict as written beside a rendered video (unrounded), whose ``frames`` also
        holds the exact ``joints_2d_px`` ``(T, 33, 2)`` and ``joints_3d_m`` ``(T, 33, 3)`` arrays
        (in a rendered sample these live in the sibling ``.npz``).
    """
    tr = compute_truth(spec)
    poses = tr.poses.copy()
    if spec.landmark_noise_px > 0:
        rng = np.random.default_rng([spec.seed, 104729])
        poses[..., :2] += rng.normal(0.0, spec.landmark_noise_px, size=poses[..., :2].shape)
    truth = truth_dict(tr, rounded=False)
    truth["frames"]["joints_2d_px"] = tr.poses[..., :2].copy()
    truth["frames"]["joints_3d_m"] = tr.joints_3d.copy()
    return poses, tr.fps, truth


def _r(a: np.ndarray, nd: int) -> list[Any]:
    return np.round(a, nd).tolist()


def truth_dict(tr: SynthTruth, rounded: bool = True) -> dict[str, Any]:
    """JSON-ready ground truth. Per-frame arrays: 0.1 px / 0.1 deg / 1 mm when ``rounded``."""
    spec = tr.motion.spec
    fps = tr.fps
    cam = tr.camera

    def fr(t: float) -> int:
        return min(tr.n_frames - 1, round(t * fps))

    reps = [{"start_s": round(r.start_s, 4), "bottom_s": round(r.bottom_s, 4),
             "end_s": round(r.end_s, 4), "start_frame": fr(r.start_s),
             "bottom_frame": fr(r.bottom_s), "end_frame": fr(r.end_s),
             **({"velocity_loss_pct": r.velocity_loss_pct} if spec.velocity_loss else {})}
            for r in tr.motion.reps]
    faults = [{"type": s["type"], "start_s": round(float(s["start_s"]), 4),  # type: ignore[arg-type]
               "end_s": round(float(s["end_s"]), 4),  # type: ignore[arg-type]
               "rep_index": s["rep_index"], "severity": s["severity"]}
              for s in tr.motion.fault_spans]
    nd_px = 1 if rounded else 6

    def arr(a: np.ndarray, nd: int) -> list[Any]:
        return _r(a, nd) if rounded else a.tolist()

    spec_d = dataclasses.asdict(spec)
    spec_d["faults"] = [dataclasses.asdict(f) for f in spec.faults]
    if not spec.velocity_loss:
        del spec_d["velocity_loss"]  # truth files written before the option stay as they were
    first_rep = tr.motion.reps[0].start_s if tr.motion.reps else None
    return {
        "format": TRUTH_FORMAT,
        "name": spec.name,
        "exercise": spec.exercise,
        "kind": "hold" if spec.is_hold else "reps",
        "view": spec.view,
        "azimuth_deg": spec.azimuth,
        "fps": float(fps),
        "n_frames": tr.n_frames,
        "duration_s": round(tr.n_frames / fps, 4),
        "image_size": [spec.width, spec.height],
        "camera": {
            **{k: round(v, 4) for k, v in cam.intrinsics.items()},
            "position_m": _r(cam.position, 4),
            "target_m": [round(v, 4) for v in cam.target],
            "distance_m": round(cam.distance_m, 4),
            "height_m": round(cam.height_m, 4),
        },
        "seed": spec.seed,
        "setup_end_s": round(first_rep, 4) if first_rep is not None else None,
        "rep_count": len(tr.motion.reps),
        "reps": reps,
        "faults": faults,
        "spec": spec_d,
        "landmark_names": list(LANDMARK_NAMES),
        "angle_names": list(JOINT_TRIPLES),
        "frames": {
            "angles_3d_deg": {k: arr(v, nd_px) for k, v in tr.angles_3d.items()},
            "angles_2d_deg": {k: arr(v, nd_px) for k, v in tr.angles_2d.items()},
        },
        "arrays": f"{spec.name}.npz",
    }


def truth_arrays(tr: SynthTruth) -> dict[str, np.ndarray]:
    """Bulky per-frame arrays for the sibling ``.npz``: float32, 0.1 px and 1 mm resolution.

    ``joints_2d_px`` ``(T, 33, 2)``, ``joints_3d_m`` ``(T, 33, 3)``, ``pose_z`` ``(T, 33)``.
    """
    return {
        "joints_2d_px": np.round(tr.poses[..., :2], 1).astype(np.float32),
        "joints_3d_m": np.round(tr.joints_3d, 3).astype(np.float32),
        "pose_z": np.round(tr.poses[..., 2], 1).astype(np.float32),
    }


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """A compressed ``.npz`` whose bytes depend only on the arrays (fixed zip timestamps)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            item = io.BytesIO()
            np.lib.format.write_array(item, np.ascontiguousarray(arrays[name]),
                                      allow_pickle=False)
            zf.writestr(info, item.getvalue(), compresslevel=9)
    return buf.getvalue()


def render_frames(tr: SynthTruth) -> list[np.ndarray]:
    """All frames of a sample as BGR images (deterministic)."""
    from formcoach.synth.render import draw_background, palette_for_seed, plate_centre, render_frame

    spec = tr.motion.spec
    pal = palette_for_seed(spec.seed)
    bg = draw_background(tr.camera, pal)
    plate = plate_centre(tr.joints_3d, tr.camera) if spec.occluder == "plate" else None
    frames = []
    for i in range(tr.n_frames):
        state = tr.motion.state(i / spec.fps)
        frames.append(render_frame(state, tr.joints_3d[i], tr.motion.props, tr.camera, pal, bg,
                                   plate))
    return frames


def render_sample(spec: SynthSpec, out_dir: str | os.PathLike[str] = "samples"
                  ) -> tuple[Path, Path]:
    """Render ``spec`` to ``out_dir/<name>.mp4``, ground truth ``<name>.json`` and ``<name>.npz``.

    Raises:
        InputError: ``out_dir`` does not exist, or the video cannot be written or read back.
    """
    import cv2

    out = Path(out_dir)
    if not out.is_dir():
        raise InputError(f"output folder does not exist: {out} (create it first)")
    tr = compute_truth(spec)
    video = out / f"{spec.name}.mp4"
    truth = out / f"{spec.name}.json"
    # OpenCV segfaults on a path that is not UTF-8: it gets an ASCII name (Cv2OutputFile).
    with Cv2OutputFile(video, default_suffix=".mp4") as tmp:
        fourcc = cv2.VideoWriter_fourcc(*"mp4v")  # type: ignore[attr-defined]
        writer = cv2.VideoWriter(tmp.cv2_name, fourcc, float(spec.fps),
                                 (spec.width, spec.height))
        if not writer.isOpened():
            raise InputError(f"cannot write video {display_path(video)} (OpenCV has no mp4v "
                             "encoder here)")
        try:
            for img in render_frames(tr):
                writer.write(img)
        finally:
            writer.release()
        cap = cv2.VideoCapture(tmp.cv2_name)
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        cap.release()
        if n != tr.n_frames:
            raise InputError(f"video {display_path(video)} reads back {n} frames, expected "
                             f"{tr.n_frames}")
        tmp.commit()
    os.chmod(video, 0o644)
    d = truth_dict(tr)
    d["generator"] = {"formcoach": __version__, "numpy": np.__version__, "opencv": cv2.__version__,
                      "fourcc": "mp4v"}
    atomic_write_text(truth, json.dumps(d, separators=(",", ":")) + "\n", mode=0o644)
    atomic_write_bytes(out / f"{spec.name}.npz", npz_bytes(truth_arrays(tr)), mode=0o644)
    log.info("wrote %s (%d frames) and %s", display_path(video), tr.n_frames, display_path(truth))
    return video, truth


def write_manifest(folder: str | os.PathLike[str]) -> Path:
    """Write ``folder/manifest.json`` for the rendered rep samples in ``folder`` (every
    ``NAME.json`` ground truth of kind ``reps`` with its ``NAME.mp4``), in the format
    ``formcoach eval reps --manifest`` reads. Holds (plank) have no rep count and are left out.

    Returns:
        The manifest's path.
    """
    root = Path(folder)
    clips = []
    for truth in sorted(root.glob("*.json")):
        try:
            d = json.loads(truth.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if not isinstance(d, dict) or d.get("format") != TRUTH_FORMAT or d.get("kind") != "reps":
            continue
        video = truth.with_suffix(".mp4")
        if not video.is_file():
            continue
        n = int(d["rep_count"])
        clips.append({
            "file": video.name, "exercise": d["exercise"], "reps": n, "accept": [n, n],
            "view": d["view"], "fps": d["fps"], "duration_s": d["duration_s"],
            "faults": sorted({f["type"] for f in d.get("faults", [])}),
            "source": f"formcoach synth, ground truth {truth.name}", "license": "Apache-2.0",
        })
    doc = {"description": "formcoach's synthetic samples: rendered mannequin clips with exact "
                          "rep counts (made by 'formcoach synth').", "clips": clips}
    path = root / "manifest.json"
    atomic_write_text(path, json.dumps(doc, indent=1) + "\n")
    return path


def load_truth(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a sample's ground-truth JSON; per-frame lists become float64 arrays.

    ``frames.angles_*_deg[name]`` -> ``(T,)``; from the sibling ``.npz`` (when present)
    ``frames.joints_2d_px`` ``(T, 33, 2)`` px and ``frames.joints_3d_m`` ``(T, 33, 3)`` m.

    Raises:
        InputError: missing or malformed file.
    """
    from formcoach.text import parse_json, read_text_capped
    from formcoach.types import npy_member_header

    p = Path(path)
    if not p.is_file():
        raise InputError(f"ground-truth file not found: {p}")
    d = parse_json(read_text_capped(p, MAX_TRUTH_BYTES, "ground-truth file", InputError),
                   p, "ground-truth file", InputError)
    try:
        fr = d["frames"]
        npz = p.with_name(str(d.get("arrays") or p.with_suffix(".npz").name))
        if npz.is_file():
            with zipfile.ZipFile(npz) as zf:
                names = [n[:-4] for n in zf.namelist() if n.endswith(".npy")]
                total = 0
                for name in names:
                    shape, dtype = npy_member_header(zf, name)
                    total += int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
                if total > MAX_TRUTH_ARRAY_BYTES or len(names) > 64:
                    raise ValueError(f"arrays of {total >> 20} MiB in {len(names)} members")
            with np.load(npz, allow_pickle=False) as z:
                for key in z.files:
                    fr[key] = np.asarray(z[key], dtype=np.float64)
        for key in ("angles_3d_deg", "angles_2d_deg"):
            fr[key] = {k: np.asarray(v, dtype=np.float64) for k, v in fr[key].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError, EOFError,
            zipfile.BadZipFile, zlib.error, NotImplementedError) as e:
        raise InputError(f"not a formcoach synth ground-truth file: {p} "
                         f"({type(e).__name__}: {str(e)[:80]})") from e
    return d
