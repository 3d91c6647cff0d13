"""Audio you can trust: a cue counts as spoken only when a device played it.

The player's exit status is not enough: with no audio device, players exit 0 without playing
(or print a device error and exit 0). Detection is a probe (injectable: these tests fake
"device present" / "device absent") plus per-playback checks; the first failure is said once and
the rest of the session is text. Cue WAVs are user-only (0600) like every other output.
"""

from __future__ import annotations

import logging
import os
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fakes import espeak_available, write_tone

from formcoach import synth
from formcoach.cli import main
from formcoach.clock import MonotonicClock
from formcoach.coach.live import run_live
from formcoach.coach.result import SessionResult
from formcoach.cues import speech
from formcoach.cues.speech import (
    NO_AUDIO_DEVICE,
    FileSink,
    NoAudioDevice,
    Pyttsx3Speaker,
    SubprocessSink,
    TextSpeaker,
    check_played,
    create_speaker,
    probe_audio_output,
)
from formcoach.exercises import load_exercise
from formcoach.pose.base import RunningMode
from formcoach.sources import ArraySource
from formcoach.types import NS_PER_S, Cue, PoseResult

WAV_S = 0.4  # cue length used by the fake engine (long enough to be timed)


def write_wav(path: Path, seconds: float = WAV_S) -> None:
    write_tone(path, seconds)


class ToneEngine:
    """Fake TTS: every text becomes a WAV_S tone (written the naive, umask-dependent way)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def synthesize(self, text: str, path: Path) -> None:
        write_wav(Path(path))


def player(tmp_path: Path, name: str, body: str) -> Path:
    """A fake command-line audio player (a shell script taking the WAV path)."""
    script = tmp_path / name
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(0o700)
    return script


LYING = "exit 0"  # 'plays' a 0.4 s cue in a few ms, exit 0: what no-device players do
DEVICE_ERROR_EXIT_0 = (
    'echo "ALSA lib pcm.c:2666:(snd_pcm_open_noupdate) Unknown PCM default" >&2\n'
    'echo "aplay: main:831: audio open error: No such file or directory" >&2\n'
    f"sleep {WAV_S}\nexit 0"
)
PLAYS = f"sleep {WAV_S}\nexit 0"  # takes as long as the audio: trusted


def cue(text: str) -> Cue:
    now = MonotonicClock().now_ns()
    return Cue(text=text, priority=2, rule_id="depth", fault_t_ns=now, created_ns=now)


def warnings_about_audio(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records
        if r.levelno >= logging.WARNING and "shown as text" in r.getMessage()
    ]


# ----------------------------------------------------------------------------- playback checks
def test_player_that_exits_0_without_playing_is_not_counted_and_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sink = SubprocessSink([str(player(tmp_path, "liar", LYING))])
    shown: list[str] = []
    sp = Pyttsx3Speaker(sink, engine_factory=ToneEngine, stale_after_s=None,
                        on_text=lambda c: shown.append(c.text))
    try:
        with caplog.at_level(logging.WARNING, logger="formcoach.cues.speech"):
            for text in ("go deeper", "chest up", "knees out"):
                sp.say(cue(text))
                assert sp.wait_idle(timeout_s=10)
    finally:
        sp.close()
    assert sp.played == 0
    assert not any(e.played for e in sp.history)
    assert sp.audio_problem == NO_AUDIO_DEVICE
    (msg,) = warnings_about_audio(caplog)  # once, not per cue
    assert msg.startswith("no audio device: cues are shown as text")
    assert shown == ["go deeper", "chest up", "knees out"]  # text fallback for every cue


def test_player_that_prints_a_device_error_but_exits_0_did_not_play(tmp_path: Path) -> None:
    wav = tmp_path / "cue.wav"
    write_wav(wav)
    sink = SubprocessSink([str(player(tmp_path, "noisy", DEVICE_ERROR_EXIT_0))])
    with pytest.raises(NoAudioDevice, match="audio open error"):
        sink.play(wav)


def test_player_that_fails_is_not_played(tmp_path: Path) -> None:
    wav = tmp_path / "cue.wav"
    write_wav(wav)
    sink = SubprocessSink([str(player(tmp_path, "broken", 'echo "boom" >&2\nexit 3'))])
    with pytest.raises(OSError, match="exited 3: boom"):
        sink.play(wav)


def test_duration_check() -> None:
    with pytest.raises(NoAudioDevice, match="returned after"):
        check_played("aplay", duration_s=1.2, elapsed_s=0.005)
    check_played("aplay", duration_s=1.2, elapsed_s=1.15)  # played
    check_played("aplay", duration_s=0.1, elapsed_s=0.001)  # too short to judge


def test_device_present_and_player_that_plays_is_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(speech, "PLAYERS", ((str(player(tmp_path, "good", PLAYS)),),))
    monkeypatch.setattr(speech, "Pyttsx3Engine", ToneEngine)
    with caplog.at_level(logging.WARNING, logger="formcoach.cues.speech"):
        sp = create_speaker(probe=lambda: "fake card", stale_after_s=None)
        try:
            assert isinstance(sp, Pyttsx3Speaker)
            sp.say(cue("go deeper"))
            assert sp.wait_idle(timeout_s=10)
            sp.say(cue("chest up"))
            assert sp.wait_idle(timeout_s=10)
        finally:
            sp.close()
    assert sp.played == 2 and all(e.played for e in sp.history)
    assert sp.audio_problem is None
    assert warnings_about_audio(caplog) == []


def test_device_absent_means_text_even_with_a_player(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(speech, "PLAYERS", ((str(player(tmp_path, "good", PLAYS)),),))
    monkeypatch.setattr(speech, "Pyttsx3Engine", ToneEngine)
    shown: list[str] = []
    with caplog.at_level(logging.WARNING, logger="formcoach.cues.speech"):
        sp = create_speaker(probe=lambda: None, on_text=lambda c: shown.append(c.text))
        sp.say(cue("go deeper"))
        sp.say(cue("chest up"))
    assert isinstance(sp, TextSpeaker)
    assert sp.played == 0 and sp.audio_problem == NO_AUDIO_DEVICE
    assert shown == ["go deeper", "chest up"]
    assert warnings_about_audio(caplog) == ["no audio device: cues are shown as text"]


# ----------------------------------------------------------------------------- device probe
@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short folder (Unix socket paths are limited to ~107 bytes)."""
    d = Path(tempfile.mkdtemp(prefix="fc-", dir="/tmp"))
    yield d
    for p in d.iterdir():
        p.unlink()
    d.rmdir()


NO_CARDS = "--- no soundcards ---\n"
ONE_CARD = (
    " 0 [PCH            ]: HDA-Intel - HDA Intel PCH\n"
    "                      HDA Intel PCH at 0xf7f10000 irq 32\n"
)


def probe(short_dir: Path, cards: str | None, sockets: tuple[Path, ...] = (), **env: str) -> str | None:
    f = short_dir / "cards"
    if cards is None:
        f.unlink(missing_ok=True)
    else:
        f.write_text(cards)
    return probe_audio_output(env=env, asound_cards=f, sockets=list(sockets),
                              sounddevice=False, platform="linux")


def test_probe_finds_no_device_without_card_or_sound_server(short_dir: Path) -> None:
    assert probe(short_dir, NO_CARDS) is None
    assert probe(short_dir, None) is None  # no ALSA at all (containers, CI)
    stale = short_dir / "native"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(stale))  # a socket file whose server is gone
    assert probe(short_dir, NO_CARDS, (stale,)) is None
    assert probe(short_dir, NO_CARDS, PULSE_SERVER=f"unix:{stale}") is None


def test_probe_finds_an_alsa_card_or_a_live_sound_server(short_dir: Path) -> None:
    assert probe(short_dir, ONE_CARD) == "ALSA card HDA-Intel - HDA Intel PCH"
    live = short_dir / "pipewire-0"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(live))
        s.listen(1)
        assert probe(short_dir, NO_CARDS, (live,)) == f"sound server at {live}"
    assert probe(short_dir, NO_CARDS, PULSE_SERVER="tcp:10.0.0.2") is not None
    assert probe_audio_output(platform="darwin") is not None  # not probed: playback is checked


# ----------------------------------------------------------------------------- live summary
class TruthEstimator:
    """Returns the synthetic ground-truth pose of the frame at ``t_ns``."""

    name = "truth"
    model = "truth"
    model_sha256 = ""
    running_mode: RunningMode = "video"

    def __init__(self, poses: np.ndarray, fps: float) -> None:
        self.poses, self.fps = poses, fps

    def process(self, image_bgr: np.ndarray, t_ns: int) -> PoseResult:
        i = min(round(t_ns * self.fps / NS_PER_S), len(self.poses) - 1)
        return PoseResult(self.poses[i], np.full((33, 3), np.nan), t_ns, (320, 240), 1.0)

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


def curl_spec() -> synth.SynthSpec:
    return synth.SynthSpec(
        name="audio_curl", exercise="bicep_curl", view="side", reps=3, seed=5, setup_s=1.5,
        width=320, height=240, faults=(synth.FaultSpec("torso_swing", (1, 2)),),
    )


@pytest.fixture(scope="module")
def curl_truth() -> tuple[np.ndarray, float]:
    poses, fps, _ = synth.truth_poses(curl_spec())
    return poses, fps


def live_set(curl_truth: tuple[np.ndarray, float], speaker: object) -> SessionResult:
    poses, fps = curl_truth
    img = np.random.default_rng(0).integers(40, 220, size=(240, 320, 3), dtype=np.uint8)
    return run_live(ArraySource([img] * len(poses), fps=fps), load_exercise("bicep_curl"),
                    TruthEstimator(poses, fps), speaker, skip_setup=True)  # type: ignore[arg-type]


def test_live_summary_counts_only_cues_that_played(
    tmp_path: Path, curl_truth: tuple[np.ndarray, float]
) -> None:
    sink = SubprocessSink([str(player(tmp_path, "liar", LYING))])
    sp = Pyttsx3Speaker(sink, engine_factory=ToneEngine, stale_after_s=None)
    try:
        res = live_set(curl_truth, sp)
    finally:
        sp.close()
    n = len(res.cues)
    assert n >= 1
    assert res.cues_played == 0 and res.audio_problem == NO_AUDIO_DEVICE
    assert res.summary_lines()[-1] == f"cues spoken: 0 (no audio device; {n} shown as text)"


def test_live_summary_counts_played_cues(
    tmp_path: Path, curl_truth: tuple[np.ndarray, float]
) -> None:
    sp = Pyttsx3Speaker(FileSink(tmp_path / "out"), engine_factory=ToneEngine, stale_after_s=None)
    try:
        res = live_set(curl_truth, sp)
    finally:
        sp.close()
    n = len(res.cues)
    assert n >= 1 and res.cues_played == n  # the last cue is counted once it has played
    assert res.summary_lines()[-1] == f"cues spoken: {n}"


@pytest.fixture(scope="module")
def curl_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    video, _ = synth.render_sample(curl_spec(), tmp_path_factory.mktemp("audio"))
    return Path(video)


def test_live_cli_without_audio_device_says_so_once_and_counts_0_spoken(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture, curl_video: Path, curl_truth: tuple[np.ndarray, float],
    tmp_path: Path,
) -> None:
    import formcoach.pose

    poses, fps = curl_truth
    monkeypatch.setattr(formcoach.pose, "create_estimator",
                        lambda *a, **k: TruthEstimator(poses, fps))
    monkeypatch.setattr(speech, "probe_audio_output", lambda: None)  # this machine, or CI
    with caplog.at_level(logging.WARNING):
        rc = main(["live", "--exercise", "bicep_curl", "--source", str(curl_video),
                   "--no-window", "--skip-setup", "--db", str(tmp_path / "s.db")])
    out, err = capsys.readouterr()
    assert rc == 0, err
    printed = [line for line in out.splitlines() if line.startswith("[")]
    assert printed  # every cue still reaches the screen
    assert f"cues spoken: 0 (no audio device; {len(printed)} shown as text)" in out
    assert warnings_about_audio(caplog) == ["no audio device: cues are shown as text"]


# ----------------------------------------------------------------------------- permissions
@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)  # the common default: new files 0644 unless made private
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_cached_and_copied_cue_wavs_are_user_only(tmp_path: Path, umask_022: None) -> None:
    sink = FileSink(tmp_path / "out")
    sp = Pyttsx3Speaker(sink, engine_factory=ToneEngine, cache_dir=tmp_path / "cache",
                        preload=["go deeper"], stale_after_s=None)
    try:
        sp.say(cue("go deeper"))
        assert sp.wait_idle(timeout_s=10)
        cached = sorted((tmp_path / "cache").glob("*.wav"))
        assert cached and {mode(p) for p in cached} == {0o600}
    finally:
        sp.close()
    (rec,) = sink.records
    assert mode(rec.path) == 0o600
    assert mode(tmp_path / "cache") == 0o700 and mode(tmp_path / "out") == 0o700


@pytest.mark.skipif(not espeak_available(), reason="pyttsx3/espeak-ng not available")
def test_espeak_cue_wav_is_user_only_even_over_an_old_0644_file(
    tmp_path: Path, umask_022: None
) -> None:
    target = tmp_path / "01_go_deeper.wav"
    target.write_bytes(b"old")
    target.chmod(0o644)
    speech.Pyttsx3Engine().synthesize("go deeper", target)
    assert mode(target) == 0o600
    assert speech.wav_duration_s(target) > 0.2
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temp file left behind
