#!/usr/bin/env python3
"""Rebuild formcoach's bundled BlazePose model files (the Lite / Full / Heavy ladder).

Sources, each pinned by version and sha256 (checked before anything is built):
    mediapipe==0.10.21 wheel (PyPI)          pose_detection.tflite, pose_landmark_full.tflite
    @mediapipe/pose@0.5.1675469404 (npm)     pose_landmark_lite.tflite, pose_landmark_heavy.tflite
                                             (its pose_landmark_full.tflite is the wheel's, byte
                                             for byte; the build checks that too)

Outputs (in this folder; Full keeps its original names):
    pose_detector.onnx                    BlazePose detector, DENSIFY weights folded, via tf2onnx
    pose_landmarks_detector_lite.onnx     BlazePose lite landmark model, via tf2onnx
    pose_landmarks_detector.onnx          BlazePose full landmark model, via tf2onnx
    pose_landmarks_detector_heavy.onnx    BlazePose heavy landmark model, via tf2onnx
    pose_landmarks_detector_full_seg.onnx BlazePose full landmark model with its segmentation
                                          head kept (the others prune it), via tf2onnx: run
                                          only on the frames whose back silhouette is measured
    pose_landmarker_{lite,full,heavy}.task  MediaPipe Tasks bundles (pose_detector.tflite +
                                          pose_landmarks_detector.tflite, normalisation metadata)
    manifest.toml                         sha256, source, rung and license of each file

Usage (from the repository root; needs the PyPI and npm registries, build time only)::

    python models/build_models.py                      # everything
    python models/build_models.py --wheel PATH --npm-tarball PATH   # already downloaded sources
    python models/build_models.py --only task          # the .task bundles only (no TensorFlow)

Stages:
    1. ``pip download mediapipe==0.10.21 --no-deps`` and ``npm pack @mediapipe/pose@0.5.1675469404``;
       check both sha256 pins, unpack the .tflite files and check their sha256 pins.
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
model: ``--compare DIR`` runs every ONNX file of a rebuild in DIR and the committed one in this
folder on the same random inputs (onnxruntime) and reports the largest output difference, so a
rebuild can keep the committed bytes of files that did not change. (The committed detector and
Full ONNX files predate the ladder; a rebuild of both compared equal, max |diff| 0.)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import types
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MP_WHEEL_VERSION = "0.10.21"
MP_WHEEL_NAME = f"mediapipe-{MP_WHEEL_VERSION}-cp311-cp311-manylinux_2_28_x86_64.whl"
MP_WHEEL_SHA256 = "05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3"
NPM_PACKAGE = "@mediapipe/pose"
NPM_VERSION = "0.5.1675469404"
NPM_TARBALL_SHA256 = "8bb349a7b3a3ba699df23be804ddd3b3eab810b50b15406894be257859388a84"
DETECTOR_TFLITE = "mediapipe/modules/pose_detection/pose_detection.tflite"
LANDMARK_TFLITE = "mediapipe/modules/pose_landmark/pose_landmark_full.tflite"
#: Landmark model of each rung: (source, member path in that source, sha256 of the member).
RUNGS = ("lite", "full", "heavy")
LANDMARK_SOURCES: dict[str, tuple[str, str, str]] = {
    "lite": ("npm", "package/pose_landmark_lite.tflite",
             "f17bfbecadb61c3be1baa8b8d851cc6619c870a87167b32848ad20db306b9d61"),
    "full": ("wheel", LANDMARK_TFLITE,
             "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f"),
    "heavy": ("npm", "package/pose_landmark_heavy.tflite",
              "59e42d71bcd44cbdbabc419f0ff76686595fd265419566bd4009ef703ea8e1fe"),
}
DETECTOR_SHA256 = "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c"
#: The npm package's copy of Full, checked equal to the wheel's.
NPM_FULL = "package/pose_landmark_full.tflite"
#: Output names per rung (Full keeps the names it had before the ladder).
ONNX_LANDMARKS = {"lite": "pose_landmarks_detector_lite.onnx", "full": "pose_landmarks_detector.onnx",
                  "heavy": "pose_landmarks_detector_heavy.onnx"}
TASKS = {r: f"pose_landmarker_{r}.task" for r in RUNGS}
ONNX_DETECTOR = "pose_detector.onnx"
#: Full with its segmentation head: the same landmark outputs (bit for bit) plus the mask.
ONNX_SEGMENTER = "pose_landmarks_detector_full_seg.onnx"
SEGMENTER_RUNG = "full"
# Pinned build-time tools for the ONNX stage.
ONNX_BUILD_REQUIREMENTS = ["tensorflow-cpu==2.21.0", "tf2onnx==1.17.0", "onnx==1.23.2", "numpy==2.4.6"]
OPSET = 17
FIXED_ZIP_TIME = (2025, 1, 1, 0, 0, 0)

LICENSE_NOTE = (
    "BlazePose models from MediaPipe (Google LLC), Apache License 2.0. "
    "Lite and Heavy landmark models from @mediapipe/pose (npm), the rest from the mediapipe wheel. "
    "Converted by formcoach (metadata added / DENSIFY folded / ONNX conversion); "
    "weights unchanged."
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_sha(path: Path, expected: str, what: str) -> None:
    got = sha256(path)
    if got != expected:
        sys.exit(f"build_models: {what} {path} has sha256 {got}, expected {expected}; "
                 "refusing to build from an unpinned source")


def fetch_wheel(work: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", f"mediapipe=={MP_WHEEL_VERSION}", "--no-deps",
         "--only-binary=:all:", "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64",
         "-d", str(work)],
        check=True,
    )
    wheel = work / MP_WHEEL_NAME
    if not wheel.is_file():
        sys.exit(f"build_models: pip download produced no {MP_WHEEL_NAME}")
    return wheel


def fetch_npm(work: Path) -> Path:
    """``npm pack`` the pinned @mediapipe/pose tarball into ``work`` (registry only)."""
    subprocess.run(["npm", "pack", f"{NPM_PACKAGE}@{NPM_VERSION}", "--pack-destination", str(work)],
                   check=True, cwd=work)
    tgz = work / f"mediapipe-pose-{NPM_VERSION}.tgz"
    if not tgz.is_file():
        sys.exit(f"build_models: npm pack produced no {tgz.name}")
    return tgz


def extract(wheel: Path, tarball: Path, work: Path) -> tuple[Path, dict[str, Path]]:
    """Unpack the detector and each rung's landmark model, checking every pinned sha256.

    Returns:
        The detector .tflite and ``{rung: landmark .tflite}``.
    """
    _check_sha(wheel, MP_WHEEL_SHA256, "mediapipe wheel")
    _check_sha(tarball, NPM_TARBALL_SHA256, "npm tarball")
    det = work / "pose_detection.tflite"
    lmks: dict[str, Path] = {}
    with zipfile.ZipFile(wheel) as z:
        det.write_bytes(z.read(DETECTOR_TFLITE))
        wheel_members = {r: z.read(m) for r, (src, m, _) in LANDMARK_SOURCES.items() if src == "wheel"}
    with tarfile.open(tarball, "r:gz") as t:
        def member(name: str) -> bytes:
            f = t.extractfile(name)
            if f is None:
                sys.exit(f"build_models: {tarball.name} has no file {name}")
            return f.read()

        npm_members = {r: member(m) for r, (src, m, _) in LANDMARK_SOURCES.items() if src == "npm"}
        npm_full = member(NPM_FULL)
    _check_sha(det, DETECTOR_SHA256, "detector")
    for rung, (_src, _m, want) in LANDMARK_SOURCES.items():
        path = work / f"pose_landmark_{rung}.tflite"
        path.write_bytes({**wheel_members, **npm_members}[rung])
        _check_sha(path, want, f"{rung} landmark model")
        lmks[rung] = path
    if hashlib.sha256(npm_full).hexdigest() != LANDMARK_SOURCES["full"][2]:
        sys.exit("build_models: the npm package's pose_landmark_full.tflite differs from the wheel's")
    return det, lmks


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

    Only the back-silhouette measure uses the mask (:data:`ONNX_SEGMENTER` keeps it, run on the
    few frames that need it); its upsampling decoder is the costliest part of the network on a
    CPU: without it Full runs in about 6 ms instead of 11.5 here. Landmarks, presence, heatmap and
    world outputs are computed by the same nodes as before (the graph is only pruned).
    """
    import onnx
    import onnx.utils

    model = onnx.load(str(src))

    def dims(o: onnx.ValueInfoProto) -> tuple[int, ...]:
        return tuple(d.dim_value for d in o.type.tensor_type.shape.dim)

    keep = [o.name for o in model.graph.output if dims(o)[1:] != (256, 256, 1)]
    if len(keep) != len(model.graph.output) - 1:
        shapes = [dims(o) for o in model.graph.output]
        raise SystemExit(f"expected exactly one segmentation output, outputs: {shapes}")
    onnx.utils.extract_model(str(src), str(dst), [i.name for i in model.graph.input], keep)


def onnx_stage(det: Path, lmks: dict[str, Path], outdir: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        dense = Path(tmp) / "pose_detection_dense.tflite"
        densify(det, dense)
        to_onnx(dense, outdir / ONNX_DETECTOR)
        for rung, lmk in lmks.items():
            raw = Path(tmp) / f"pose_landmarks_{rung}.onnx"
            to_onnx(lmk, raw)
            drop_segmentation(raw, outdir / ONNX_LANDMARKS[rung])
            if rung == SEGMENTER_RUNG:
                shutil.copyfile(raw, outdir / ONNX_SEGMENTER)


def ensure_build_venv(work: Path) -> Path:
    venv = work / "tf-venv"
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", *ONNX_BUILD_REQUIREMENTS], check=True)
    return py


def _sources(rung: str) -> str:
    src = LANDMARK_SOURCES[rung][0]
    return f"mediapipe=={MP_WHEEL_VERSION}" if src == "wheel" else f"{NPM_PACKAGE}@{NPM_VERSION}"


def manifest_entries() -> list[tuple[str, str, str, str]]:
    """``(file, rung or "", source, description)`` of every bundled file, in manifest order."""
    wheel = f"mediapipe=={MP_WHEEL_VERSION}"
    rows = [(ONNX_DETECTOR, "", wheel,
             "BlazePose detector (pose_detection.tflite), DENSIFY folded, tf2onnx; shared by every rung")]
    for rung in RUNGS:
        both = wheel if LANDMARK_SOURCES[rung][0] == "wheel" else f"{wheel} + {_sources(rung)}"
        rows.append((TASKS[rung], rung, both,
                     f"MediaPipe Tasks bundle: pose_detector.tflite + pose_landmarks_detector.tflite "
                     f"(BlazePose {rung}) with normalisation metadata"))
        rows.append((ONNX_LANDMARKS[rung], rung, _sources(rung),
                     f"BlazePose {rung} landmark model (pose_landmark_{rung}.tflite), tf2onnx, "
                     "segmentation head pruned"))
        if rung == SEGMENTER_RUNG:
            rows.append((ONNX_SEGMENTER, "", _sources(rung),
                         f"BlazePose {rung} landmark model (pose_landmark_{rung}.tflite), tf2onnx, "
                         "segmentation head kept: measures the back's silhouette"))
    return rows


def write_manifest(outdir: Path) -> None:
    lines = [
        "# Bundled model files. Checked at load time; rebuild with: python models/build_models.py",
        f'source_wheel = "mediapipe=={MP_WHEEL_VERSION}"',
        f'source_wheel_sha256 = "{MP_WHEEL_SHA256}"',
        f'source_npm = "{NPM_PACKAGE}@{NPM_VERSION}"',
        f'source_npm_sha256 = "{NPM_TARBALL_SHA256}"',
        'license = "Apache-2.0"',
        f'notice = "{LICENSE_NOTE}"',
        "",
    ]
    for name, rung, source, desc in manifest_entries():
        path = outdir / name
        if not path.is_file():
            continue  # e.g. --only task before any ONNX build
        lines += [
            f'[files."{name}"]',
            f'sha256 = "{sha256(path)}"',
            f"size = {path.stat().st_size}",
            *([f'rung = "{rung}"'] if rung else []),
            f'source = "{source}"',
            f'description = "{desc}"',
            'license = "Apache-2.0"',
            "",
        ]
    (outdir / "manifest.toml").write_text("\n".join(lines))


def compare(rebuilt: Path, committed: Path = HERE, tol: float = 1e-4) -> bool:
    """Largest |output difference| of each ONNX file in ``rebuilt`` against ``committed``."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # as formcoach itself does
    import numpy as np
    import onnxruntime as ort

    ok = True
    rng = np.random.default_rng(0)
    for new in sorted(rebuilt.glob("*.onnx")):
        old = committed / new.name
        if not old.is_file():
            print(f"{new.name}: not in {committed}")
            continue
        a, b = (ort.InferenceSession(str(f), providers=["CPUExecutionProvider"]) for f in (new, old))
        inp = a.get_inputs()[0]
        x = rng.uniform(0, 1, [d if isinstance(d, int) else 1 for d in inp.shape]).astype(np.float32)
        outs_a = a.run(None, {inp.name: x})
        # Output names can differ between conversions: pair them by shape, in order.
        diffs = []
        pool = list(b.run(None, {b.get_inputs()[0].name: x}))
        for oa in outs_a:
            match = next(i for i, ob in enumerate(pool) if ob.shape == oa.shape)
            diffs.append(float(np.max(np.abs(oa - pool.pop(match)))))
        worst = max(diffs)
        ok &= worst <= tol
        print(f"{new.name}: max |diff| {worst:.2e} over {len(diffs)} outputs")
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wheel", type=Path, help=f"{MP_WHEEL_NAME} (else pip download it)")
    ap.add_argument("--npm-tarball", type=Path,
                    help=f"mediapipe-pose-{NPM_VERSION}.tgz (else npm pack it)")
    ap.add_argument("--out", type=Path, default=HERE, help="output folder (default: models/)")
    ap.add_argument("--work", type=Path, help="scratch folder (default: a temp dir)")
    ap.add_argument("--only", choices=["all", "task"], default="all",
                    help="'task' rebuilds only the .task bundles (no TensorFlow needed)")
    ap.add_argument("--rung", choices=[*RUNGS, "all"], default="all",
                    help="build only this rung's landmark files (the detector is always built)")
    ap.add_argument("--compare", type=Path, metavar="DIR",
                    help="compare the ONNX files of a rebuild in DIR with the committed ones, then exit")
    ap.add_argument("--stage", choices=["all", "onnx"], default="all", help=argparse.SUPPRESS)
    ap.add_argument("--det", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--lmk", action="append", default=[], help=argparse.SUPPRESS)  # rung=path
    args = ap.parse_args()

    if args.compare is not None:
        sys.exit(0 if compare(args.compare) else 1)
    if args.stage == "onnx":  # re-entered inside the TensorFlow venv
        lmks = {k: Path(v) for k, v in (x.split("=", 1) for x in args.lmk)}
        onnx_stage(args.det, lmks, args.out)
        return

    work = args.work or Path(tempfile.mkdtemp(prefix="formcoach-models-"))
    work.mkdir(parents=True, exist_ok=True)
    wheel = args.wheel or fetch_wheel(work)
    tarball = args.npm_tarball or fetch_npm(work)
    det, lmks = extract(wheel, tarball, work)
    if args.rung != "all":
        lmks = {args.rung: lmks[args.rung]}
    args.out.mkdir(parents=True, exist_ok=True)
    for rung, lmk in lmks.items():
        build_task(det, lmk, args.out / TASKS[rung])
    if args.only == "task":
        write_manifest(args.out)
        print(f"task bundles written to {args.out}")
        return
    py = ensure_build_venv(work)
    subprocess.run(
        [str(py), str(Path(__file__).resolve()), "--stage", "onnx", "--det", str(det),
         *[a for rung, lmk in lmks.items() for a in ("--lmk", f"{rung}={lmk}")],
         "--out", str(args.out)],
        check=True,
    )
    write_manifest(args.out)
    print(f"models written to {args.out}")


if __name__ == "__main__":
    main()
