#!/usr/bin/env python3
"""Rebuild formcoach's bundled BlazePose model files from the mediapipe==0.10.21 wheel.

Outputs (in this folder):
    pose_landmarker_full.task       MediaPipe Tasks bundle (pose_detector.tflite +
                                    pose_landmarks_detector.tflite, with normalisation metadata)
    pose_detector.onnx              BlazePose detector, DENSIFY weights folded, via tf2onnx
    pose_landmarks_detector.onnx    BlazePose full landmark model, via tf2onnx
    manifest.toml                   sha256, source and license of each file

Usage (from the repository root; needs network access to PyPI, build time only)::

    python models/build_models.py                # everything
    python models/build_models.py --wheel PATH   # use an already downloaded wheel

Stages:
    1. ``pip download mediapipe==0.10.21 --no-deps`` and unzip the two .tflite files.
    2. .task: add image-normalisation metadata with mediapipe's own ``metadata_writers`` (from the
       installed mediapipe). In mediapipe 1.2.2 the writer cannot import its
       ``_pywrap_metadata_version`` extension; we stand in for it, returning "1.0.0", the minimum
       parser version that extension computes for this metadata (image normalisation only).
    3. ONNX (in a private venv with TensorFlow, which formcoach never needs at run time): the
       detector stores sparse weights behind DENSIFY ops that tf2onnx cannot convert. We run the
       TFLite interpreter (no XNNPACK delegate, all tensors preserved), read each DENSIFY output,
       store it as a constant buffer, drop the DENSIFY ops, then convert both models with tf2onnx.

The .task build is byte-for-byte reproducible (fixed zip timestamps and alignment). tf2onnx's
output is not byte-stable across runs (graph node naming/order), but it is numerically the same
model: ``--verify`` compares a rebuilt ONNX pair against the committed one on random inputs.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import types
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MP_WHEEL_VERSION = "0.10.21"
DETECTOR_TFLITE = "mediapipe/modules/pose_detection/pose_detection.tflite"
LANDMARK_TFLITE = "mediapipe/modules/pose_landmark/pose_landmark_full.tflite"
# Pinned build-time tools for the ONNX stage.
ONNX_BUILD_REQUIREMENTS = ["tensorflow-cpu==2.21.0", "tf2onnx==1.17.0", "onnx==1.23.2", "numpy==2.4.6"]
OPSET = 17
FIXED_ZIP_TIME = (2025, 1, 1, 0, 0, 0)

LICENSE_NOTE = (
    "BlazePose models from MediaPipe (Google LLC), Apache License 2.0. "
    "Converted by formcoach (metadata added / DENSIFY folded / ONNX conversion); "
    "weights unchanged."
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch_wheel(work: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", f"mediapipe=={MP_WHEEL_VERSION}", "--no-deps",
         "--only-binary=:all:", "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64",
         "-d", str(work)],
        check=True,
    )
    wheels = sorted(work.glob(f"mediapipe-{MP_WHEEL_VERSION}-*.whl"))
    if not wheels:
        sys.exit("build_models: pip download produced no wheel")
    return wheels[0]


def extract(wheel: Path, work: Path) -> tuple[Path, Path]:
    with zipfile.ZipFile(wheel) as z:
        det = work / "pose_detection.tflite"
        lmk = work / "pose_landmark_full.tflite"
        det.write_bytes(z.read(DETECTOR_TFLITE))
        lmk.write_bytes(z.read(LANDMARK_TFLITE))
    return det, lmk


def _stub_metadata_version() -> None:
    """Stand in for mediapipe's missing ``_pywrap_metadata_version`` extension (see module doc)."""
    import mediapipe.tasks  # noqa: F401  (the real parent package)

    parents = ["mediapipe.tasks.cc", "mediapipe.tasks.cc.metadata", "mediapipe.tasks.cc.metadata.python"]
    for pkg in parents:
        if pkg not in sys.modules:
            try:
                __import__(pkg)
            except ImportError:
                m = types.ModuleType(pkg)
                m.__path__ = []  # type: ignore[attr-defined]
                sys.modules[pkg] = m
    name = parents[-1] + "._pywrap_metadata_version"
    mod = types.ModuleType(name)
    mod.GetMinimumMetadataParserVersion = lambda _buf: "1.0.0"  # type: ignore[attr-defined]
    sys.modules[name] = mod


def with_image_metadata(model: bytes, mean: float, std: float, name: str, n_outputs: int) -> bytes:
    _stub_metadata_version()
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer

    writer = metadata_writer.MetadataWriter.create(bytearray(model))
    writer.add_general_info(name, "BlazePose (MediaPipe, Apache-2.0); metadata added by formcoach")
    writer.add_image_input(norm_mean=[mean], norm_std=[std])
    for i in range(n_outputs):
        writer.add_feature_output(name=f"output_{i}")
    content, _json = writer.populate()
    writer._temp_folder.cleanup()  # its __del__ fails at interpreter exit otherwise
    writer.__class__.__del__ = lambda self: None  # type: ignore[method-assign]
    return bytes(content)


def _write_zip(path: Path, members: dict[str, bytes], align: int = 64) -> None:
    """Stored (uncompressed) zip whose member data start on ``align``-byte boundaries.

    TFLite maps model buffers in place only when they are aligned; unaligned members make
    MediaPipe copy them and log a warning on every start.
    """
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for arcname, data in members.items():
            info = zipfile.ZipInfo(arcname, date_time=FIXED_ZIP_TIME)
            info.external_attr = 0o644 << 16
            offset = z.fp.tell() + 30 + len(arcname.encode())  # local header + name
            pad = (-(offset + 4)) % align  # 4 = extra-field header
            info.extra = b"\xfe\xca" + pad.to_bytes(2, "little") + b"\0" * pad
            z.writestr(info, data)


def build_task(det: Path, lmk: Path, out: Path) -> None:
    det_md = with_image_metadata(det.read_bytes(), 127.5, 127.5, "pose_detector", 2)
    lmk_md = with_image_metadata(lmk.read_bytes(), 0.0, 255.0, "pose_landmarks_detector", 5)
    _write_zip(out, {"pose_detector.tflite": det_md, "pose_landmarks_detector.tflite": lmk_md})


# --- ONNX stage: runs inside the TensorFlow build venv --------------------------------------------


def densify(src: Path, dst: Path) -> None:
    """Fold DENSIFY ops: their outputs become constant buffers (weights unchanged)."""
    import numpy as np
    import tensorflow as tf
    from tensorflow.lite.tools import flatbuffer_utils as fbu

    interp = tf.lite.Interpreter(
        model_path=str(src),
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        experimental_preserve_all_tensors=True,
    )
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    interp.set_tensor(inp["index"], np.zeros(inp["shape"], dtype=np.float32))
    interp.invoke()

    model = fbu.read_model(str(src))
    sub = model.subgraphs[0]
    codes = {i: c for i, c in enumerate(model.operatorCodes)}
    from tensorflow.lite.python import schema_py_generated as schema

    keep = []
    folded = 0
    for op in sub.operators:
        code = codes[op.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        if builtin == schema.BuiltinOperator.DENSIFY:
            out_idx = op.outputs[0]
            dense = np.ascontiguousarray(interp.get_tensor(out_idx))
            buf = schema.BufferT()
            buf.data = np.frombuffer(dense.tobytes(), dtype=np.uint8)
            model.buffers.append(buf)
            sub.tensors[out_idx].buffer = len(model.buffers) - 1
            # The sparse source tensor is now unused; tf2onnx still reads every constant, so
            # give it the dense data too and drop its sparsity description.
            src_t = sub.tensors[op.inputs[0]]
            src_t.buffer = len(model.buffers) - 1
            src_t.sparsity = None
            folded += 1
        else:
            keep.append(op)
    sub.operators = keep
    fbu.write_model(model, str(dst))
    print(f"densify: folded {folded} DENSIFY ops into constants")


def to_onnx(src: Path, dst: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "tf2onnx.convert", "--tflite", str(src), "--output", str(dst),
         "--opset", str(OPSET)],
        check=True,
    )


def drop_segmentation(src: Path, dst: Path) -> None:
    """Remove the landmark model's segmentation head (1x256x256x1 output).

    formcoach never uses the mask, and its upsampling decoder is the costliest part of the
    network on a CPU; without it inference is ~2-3x faster. Landmarks, presence, heatmap and
    world outputs are computed by the same nodes as before (the graph is only pruned).
    """
    import onnx
    import onnx.utils

    model = onnx.load(str(src))

    def dims(o: onnx.ValueInfoProto) -> tuple[int, ...]:
        return tuple(d.dim_value for d in o.type.tensor_type.shape.dim)

    keep = [o.name for o in model.graph.output if dims(o)[1:] != (256, 256, 1)]
    if len(keep) != len(model.graph.output) - 1:
        raise SystemExit(f"expected exactly one segmentation output, outputs: {[dims(o) for o in model.graph.output]}")
    onnx.utils.extract_model(str(src), str(dst), [i.name for i in model.graph.input], keep)


def onnx_stage(det: Path, lmk: Path, outdir: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        dense = Path(tmp) / "pose_detection_dense.tflite"
        densify(det, dense)
        to_onnx(dense, outdir / "pose_detector.onnx")
        full = Path(tmp) / "pose_landmarks_full.onnx"
        to_onnx(lmk, full)
        drop_segmentation(full, outdir / "pose_landmarks_detector.onnx")


def ensure_build_venv(work: Path) -> Path:
    venv = work / "tf-venv"
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", *ONNX_BUILD_REQUIREMENTS], check=True)
    return py


def write_manifest(outdir: Path, wheel_sha: str) -> None:
    files = {
        "pose_landmarker_full.task": "MediaPipe Tasks bundle: pose_detector.tflite + "
        "pose_landmarks_detector.tflite (BlazePose full) with normalisation metadata",
        "pose_detector.onnx": "BlazePose detector (pose_detection.tflite), DENSIFY folded, tf2onnx",
        "pose_landmarks_detector.onnx": "BlazePose full landmark model (pose_landmark_full.tflite), "
        "tf2onnx, segmentation head pruned",
    }
    lines = [
        "# Bundled model files. Checked at load time; rebuild with: python models/build_models.py",
        f'source_wheel = "mediapipe=={MP_WHEEL_VERSION}"',
        f'source_wheel_sha256 = "{wheel_sha}"',
        'license = "Apache-2.0"',
        f'notice = "{LICENSE_NOTE}"',
        "",
    ]
    for name, desc in files.items():
        lines += [
            f'[files."{name}"]',
            f'sha256 = "{sha256(outdir / name)}"',
            f'size = {(outdir / name).stat().st_size}',
            f'description = "{desc}"',
            'license = "Apache-2.0"',
            "",
        ]
    (outdir / "manifest.toml").write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wheel", type=Path, help="mediapipe-0.10.21 wheel (else pip download it)")
    ap.add_argument("--out", type=Path, default=HERE, help="output folder (default: models/)")
    ap.add_argument("--work", type=Path, help="scratch folder (default: a temp dir)")
    ap.add_argument("--only", choices=["all", "task"], default="all",
                    help="'task' rebuilds only the .task bundle (no TensorFlow needed)")
    ap.add_argument("--stage", choices=["all", "onnx"], default="all", help=argparse.SUPPRESS)
    ap.add_argument("--det", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--lmk", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.stage == "onnx":  # re-entered inside the TensorFlow venv
        onnx_stage(args.det, args.lmk, args.out)
        return

    work = args.work or Path(tempfile.mkdtemp(prefix="formcoach-models-"))
    work.mkdir(parents=True, exist_ok=True)
    wheel = args.wheel or fetch_wheel(work)
    det, lmk = extract(wheel, work)
    args.out.mkdir(parents=True, exist_ok=True)
    build_task(det, lmk, args.out / "pose_landmarker_full.task")
    if args.only == "task":
        write_manifest(args.out, sha256(wheel))
        print(f"task written to {args.out}")
        return
    py = ensure_build_venv(work)
    subprocess.run(
        [str(py), str(Path(__file__).resolve()), "--stage", "onnx", "--det", str(det),
         "--lmk", str(lmk), "--out", str(args.out)],
        check=True,
    )
    write_manifest(args.out, sha256(wheel))
    print(f"models written to {args.out}")


if __name__ == "__main__":
    main()
