"""``formcoach demo``: the main job end to end on a bundled synthetic sample.

Poses -> reps -> form faults -> the cues live coaching would speak (synthesised to WAV files)
-> a PT report, CSV and JSON, and the set saved to a session database inside the output folder.
No camera, display or sound card is needed.

The sample comes from the checkout's ``samples/`` folder; an installed package without it
renders the same clip deterministically into the user cache folder first.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

from formcoach.coach.result import CueEvent
from formcoach.errors import FormcoachError, InputError

log = logging.getLogger(__name__)

#: Push-ups filmed at 45 degrees: the hips sag on rep 2 and rep 3 stops short of lockout. It
#: shows counting, a spoken cue, and a rule "not assessed" from this view (hip sag needs a side
#: view).
DEFAULT_SAMPLE = "pushup_45_sag_lockout"


def samples_dir() -> Path | None:
    """The checkout's ``samples/`` (or ``$FORMCOACH_SAMPLES``), if present."""
    env = os.environ.get("FORMCOACH_SAMPLES")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[1] / "samples"
    return repo if (repo / "specs.toml").is_file() else None


def default_sample(name: str = DEFAULT_SAMPLE) -> Path:
    """Path of sample ``name`` (.mp4), rendering it into the cache when it is not bundled.

    Raises:
        InputError: no such sample in ``samples/specs.toml``.
    """
    folder = samples_dir()
    if folder is not None and (folder / f"{name}.mp4").is_file():
        return folder / f"{name}.mp4"
    return _render_cached(name, folder)


def _render_cached(name: str, folder: Path | None) -> Path:
    from platformdirs import user_cache_dir

    from formcoach import synth

    spec_file = (folder / "specs.toml") if folder is not None else None
    specs = synth.load_specs(spec_file) if spec_file is not None and spec_file.is_file() else []
    by_name = {s.name: s for s in specs}
    if name not in by_name:
        if specs:
            raise InputError(f"unknown sample {name!r}; choose one of: {', '.join(sorted(by_name))}")
        # Installed without samples/: the demo clip's spec is known here.
        by_name[name] = synth.SynthSpec(
            name=name, exercise="pushup", view="45", reps=3, seed=202, width=512, height=384,
            faults=(synth.FaultSpec("hip_sag", (1,)), synth.FaultSpec("incomplete_lockout", (2,))),
        )
    cache = Path(user_cache_dir("formcoach")) / "samples"
    cache.mkdir(parents=True, exist_ok=True)
    video = cache / f"{name}.mp4"
    if not video.is_file():
        log.info("rendering sample %s into %s", name, cache)
        synth.render_sample(by_name[name], cache)
    return video


def _exercise_of(sample: Path) -> str:
    truth = sample.with_suffix(".json")
    if truth.is_file():
        try:
            return str(json.loads(truth.read_text())["exercise"])
        except (OSError, KeyError, ValueError):
            pass
    return sample.stem.split("_")[0] if not sample.stem.startswith(("bicep", "shoulder", "jumping")) \
        else "_".join(sample.stem.split("_")[:2])


def synthesise_cues(cues: list[CueEvent], folder: Path) -> list[Path]:
    """Speak each logged cue into ``folder/NN_text.wav`` (empty list if TTS is unavailable)."""
    from formcoach.cues.speech import Pyttsx3Engine

    try:
        engine = Pyttsx3Engine()
    except FormcoachError as e:
        log.warning("cues shown as text only: %s", e)
        return []
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)  # cue WAVs are 0600 too
    out = []
    for i, c in enumerate(cues):
        slug = re.sub(r"[^a-z0-9]+", "_", c.text.lower()).strip("_")[:40]
        path = folder / f"{i + 1:02d}_{c.t_s:06.2f}s_{slug}.wav"
        try:
            engine.synthesize(c.text, path)
        except OSError as e:
            log.warning("could not synthesise cue %r: %s", c.text, e)
            continue
        out.append(path)
    return out


def run_demo(out: Path, sample: str = DEFAULT_SAMPLE, backend: str = "onnx", audio: bool = True,
             model: str = "auto") -> int:
    """Run the demo through the session loop; returns 0. Prints what it did and where the
    files are. ``model``: a pose rung, or ``"auto"`` (:func:`formcoach.pose.ladder.choose_model`,
    offline)."""
    from formcoach.coach.offline import analyze_video
    from formcoach.coach.session import SessionSinks
    from formcoach.exercises import load_exercise
    from formcoach.pose import models
    from formcoach.pose.ladder import resolve_model
    from formcoach.report.outputs import OutputHook, OutputPaths
    from formcoach.sources import VideoFileSource

    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    video = default_sample(sample)
    exercise = load_exercise(_exercise_of(video))
    probe = VideoFileSource(video)
    fps = probe.fps
    probe.close()
    choice = resolve_model(backend, fps, "offline", model)
    print(f"formcoach demo: {video.name} ({exercise.id}), backend {backend}, model "
          f"{choice.describe()}, output in {out}/")
    hook = OutputHook(OutputPaths(json=out / "analysis.json", report=out / "report.html",
                                  csv=out / "reps.csv", db=out / "sessions.db"))
    on_rep = hook.begin(exercise.id, video, backend,
                        models.model_sha256(*models.backend_files(backend, choice.model)))
    try:
        result = analyze_video(video, exercise, backend, model=choice.model, progress=False,
                               sinks=SessionSinks(on_rep=on_rep))
        hook.write(result, video_path=video, progress=False)
    except BaseException:
        hook.abort()
        raise
    hook.end_set()
    if hook.errors:
        raise hook.errors[0]
    for line in result.coverage_lines():  # what was not judged, before any verdict
        print(line)
    print(f"reps: {result.rep_count}; form faults: "
          + (", ".join(f"{f.rule_id} (rep {f.rep_index + 1 if f.rep_index is not None else '-'})"
                       for f in result.faults) or "none"))
    if result.cues:
        print("spoken cues (as live coaching would say them):")
        for c in result.cues:
            print(f"  {c.t_s:6.2f} s  \"{c.text}\"")
    else:
        clean = result.metrics.clean_reps == result.rep_count and result.rep_count > 0
        print("spoken cues: none" + (" (clean set)" if clean else ""))
    if audio and result.cues:
        wavs = synthesise_cues(result.cues, out / "cues")
        if wavs:
            print(f"wrote {len(wavs)} cue recordings to {out / 'cues'}/")
    for path in hook.written:
        print(f"wrote {path}")
    print(f"open {out / 'report.html'} for the per-rep report")
    return 0
