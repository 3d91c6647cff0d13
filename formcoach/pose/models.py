"""Bundled model files: where they are and whether they are intact.

Models ship inside the package as ``formcoach.models`` (the repository's top-level ``models/``),
so editable and regular installs find them the same way. Every load checks the file's sha256
against ``models/manifest.toml``; nothing is ever downloaded.

The landmark model comes in three rungs of one ladder (:data:`MODELS`, fastest first): BlazePose
``lite``, ``full`` and ``heavy``. They share the person detector and the output layout; only the
landmark network differs. Full keeps its original file names.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tomllib
from importlib import resources
from pathlib import Path
from typing import Literal, cast

from formcoach.errors import InputError, ModelError
from formcoach.io_utils import sha256_file

#: A rung of the BlazePose model ladder.
ModelName = Literal["lite", "full", "heavy"]
#: Every rung, fastest (least accurate) first.
MODELS: tuple[ModelName, ...] = ("lite", "full", "heavy")
#: The rung the Python API uses when the caller does not choose one.
DEFAULT_MODEL: ModelName = "full"

#: MediaPipe Tasks bundle of each rung.
TASK_FILES: dict[ModelName, str] = {m: f"pose_landmarker_{m}.task" for m in MODELS}
#: ONNX landmark model of each rung (all share :data:`ONNX_DETECTOR`).
ONNX_LANDMARKERS: dict[ModelName, str] = {
    "lite": "pose_landmarks_detector_lite.onnx",
    "full": "pose_landmarks_detector.onnx",
    "heavy": "pose_landmarks_detector_heavy.onnx",
}
TASK_FILE = TASK_FILES["full"]
ONNX_DETECTOR = "pose_detector.onnx"
#: Full's landmark model with its segmentation head (the rung files prune it): the same
#: landmark outputs bit for bit, plus the person mask that :mod:`formcoach.pose.silhouette`
#: reads the back's shape from. Loaded only when a rule needs the silhouette.
ONNX_SEGMENTER = "pose_landmarks_detector_full_seg.onnx"
ONNX_LANDMARKER = ONNX_LANDMARKERS["full"]
REBUILD_HINT = "rebuild it with 'python models/build_models.py' or reinstall formcoach"


def check_model(model: object) -> ModelName:
    """``model`` as a rung name.

    Raises:
        InputError: not one of :data:`MODELS`.
    """
    if isinstance(model, str) and model in MODELS:
        return cast(ModelName, model)
    raise InputError(f"unknown pose model {model!r}; choose one of: {', '.join(MODELS)}")


def backend_files(backend: str, model: ModelName) -> tuple[str, ...]:
    """Bundled files the ``backend`` (``"mediapipe"`` or ``"onnx"``) loads for rung ``model``."""
    if backend == "mediapipe":
        return (TASK_FILES[model],)
    return (ONNX_DETECTOR, ONNX_LANDMARKERS[model])


def models_dir() -> Path:
    """Folder holding the bundled models (``FORMCOACH_MODELS_DIR`` overrides, for tests)."""
    override = os.environ.get("FORMCOACH_MODELS_DIR")
    if override:
        return Path(override)
    return Path(str(resources.files("formcoach.models")))


@functools.lru_cache(maxsize=4)
def _manifest(folder: str) -> dict[str, dict[str, object]]:
    path = Path(folder) / "manifest.toml"
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError as e:
        raise ModelError(f"model manifest missing: {path}; {REBUILD_HINT}") from e
    except tomllib.TOMLDecodeError as e:
        raise ModelError(f"model manifest is corrupt: {path} ({e}); {REBUILD_HINT}") from e
    files = data.get("files", {})
    if not isinstance(files, dict):
        raise ModelError(f"model manifest has no [files] table: {path}; {REBUILD_HINT}")
    return files


@functools.lru_cache(maxsize=8)
def _verified(path_str: str, mtime_ns: int, size: int, expected: str) -> bool:
    del mtime_ns, size  # part of the cache key only: re-hash when the file changes
    return sha256_file(path_str) == expected


def model_path(name: str) -> Path:
    """Path of bundled model ``name``, verified against its manifest sha256.

    Raises:
        ModelError: the file is unknown, missing or its checksum does not match.
    """
    folder = models_dir()
    entry = _manifest(str(folder)).get(name)
    if entry is None:
        raise ModelError(f"model {name!r} is not listed in {folder / 'manifest.toml'}")
    path = folder / name
    if not path.is_file():
        raise ModelError(f"model file missing: {path}; {REBUILD_HINT}")
    st = path.stat()
    expected = str(entry.get("sha256", ""))
    if not _verified(str(path), st.st_mtime_ns, st.st_size, expected):
        raise ModelError(f"model file is corrupt (sha256 mismatch): {path}; {REBUILD_HINT}")
    return path


def model_sha256(*names: str) -> str:
    """The manifest sha256 of one model, or a combined digest of several (in order)."""
    files = _manifest(str(models_dir()))
    shas = [str(files.get(n, {}).get("sha256", "")) for n in names]
    if len(shas) == 1:
        return shas[0]
    return hashlib.sha256("".join(shas).encode()).hexdigest()


def model_of_sha256(backend: str, sha: str) -> ModelName | None:
    """The rung whose bundled files have combined digest ``sha`` for ``backend``, if any (names
    the model of a pose track saved before tracks recorded it)."""
    if not sha:
        return None
    for m in MODELS:
        try:
            if model_sha256(*backend_files(backend, m)) == sha:
                return m
        except ModelError:
            return None
    return None
