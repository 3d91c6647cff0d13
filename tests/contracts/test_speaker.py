"""One behavioural contract, run against every Speaker implementation (and sink situation).

``say`` returns at once (synthesis and playback happen elsewhere); ``busy`` is true while a cue
is being spoken (or, without audio, for as long as speaking it would take, so cue pacing does
not depend on the audio device); ``played`` counts only cues an audio device verifiably
played; ``close()`` is idempotent; no engine or device failure ever raises out of ``say``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fakes import write_tone

from formcoach.clock import MonotonicClock
from formcoach.cues.speech import (
    FileSink,
    FileSpeaker,
    NoAudioDevice,
    NullSpeaker,
    Pyttsx3Speaker,
    Speaker,
    TextSpeaker,
)
from formcoach.types import Cue

WAV_S = 0.2  # every fake synthesis is a tone this long
SYNTH_S = 0.2  # and takes this long: say() must not wait for it
SAY_BOUND_S = 0.1  # say() itself: a queue put (generous for a loaded 2-core machine)
IDLE_TIMEOUT_S = 10.0


class SlowToneEngine:
    """Fake TTS: SYNTH_S per new text, then a WAV_S tone."""

    def synthesize(self, text: str, path: Path) -> None:
        time.sleep(SYNTH_S)
        write_tone(Path(path), WAV_S)


class BrokenEngine:
    """Fake TTS that starts but fails every synthesis."""

    def synthesize(self, text: str, path: Path) -> None:
        raise RuntimeError("espeak crashed")


class FailingSink:
    name = "broken"

    def play(self, wav: Path) -> None:
        raise OSError("no default audio device")


class SilentSink:
    """A player that 'succeeds' only by raising NoAudioDevice (what the real sinks detect)."""

    name = "null-device"

    def play(self, wav: Path) -> None:
        raise NoAudioDevice("returned in 2 ms for a 0.2 s cue")


@dataclass
class Impl:
    make: Callable[[Path], Any]
    voiced: bool  # cues really reach a (fake) device: played counts them
    paced: bool  # busy while a cue "plays"


def _tts(sink: Any, engine: Callable[[], Any] = SlowToneEngine) -> Callable[[Path], Any]:
    def make(tmp: Path) -> Pyttsx3Speaker:
        s = sink(tmp) if callable(sink) else sink
        return Pyttsx3Speaker(s, engine_factory=engine, stale_after_s=None,
                              cache_dir=tmp / "cache")
    return make


IMPLS: dict[str, Impl] = {
    "null": Impl(lambda tmp: NullSpeaker(), voiced=False, paced=False),
    "text": Impl(lambda tmp: TextSpeaker(rate=450), voiced=False, paced=True),
    "tts_file_sink": Impl(_tts(lambda tmp: FileSink(tmp / "out", realtime=True)), True, True),
    "file_speaker": Impl(
        lambda tmp: FileSpeaker(tmp / "out", realtime=True, engine_factory=SlowToneEngine,
                                stale_after_s=None, cache_dir=tmp / "cache"), True, True),
    "tts_failing_sink": Impl(_tts(FailingSink()), voiced=False, paced=True),
    "tts_no_device": Impl(_tts(SilentSink()), voiced=False, paced=True),
    "tts_broken_engine": Impl(_tts(lambda tmp: FileSink(tmp / "out"), BrokenEngine), False, True),
}


@pytest.fixture(params=list(IMPLS))
def impl(request: pytest.FixtureRequest) -> Impl:
    return IMPLS[request.param]


def cue(text: str = "go deeper") -> Cue:
    now = MonotonicClock().now_ns()
    return Cue(text=text, priority=2, rule_id="depth", fault_t_ns=now, created_ns=now)


def wait_idle(sp: Any, timeout_s: float = IDLE_TIMEOUT_S) -> bool:
    deadline = time.monotonic() + timeout_s
    while sp.busy:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def played(sp: Speaker) -> int:
    assert sp.played is not None, "every speaker in this contract can tell what it played"
    return sp.played


# ----------------------------------------------------------------------------- the contract
def test_is_a_speaker(impl: Impl, tmp_path: Path) -> None:
    sp = impl.make(tmp_path)
    try:
        assert isinstance(sp, Speaker)
        assert sp.muted is False and sp.busy is False
    finally:
        sp.close()


def test_say_returns_at_once_and_busy_lasts_while_speaking(impl: Impl, tmp_path: Path) -> None:
    sp = impl.make(tmp_path)
    try:
        t0 = time.perf_counter()
        sp.say(cue("go deeper"))
        sp.say(cue("knees out"))
        assert time.perf_counter() - t0 < SAY_BOUND_S
        if impl.paced:
            assert sp.busy
        assert wait_idle(sp), "still busy long after two short cues"
        assert not sp.busy
    finally:
        sp.close()


def test_played_counts_only_cues_that_played(impl: Impl, tmp_path: Path) -> None:
    sp = impl.make(tmp_path)
    try:
        for text in ("a", "b", "c"):
            sp.say(cue(text))
        assert wait_idle(sp)
        assert played(sp) == (3 if impl.voiced else 0)
        sink = getattr(sp, "sink", None)
        if isinstance(sink, FileSink):
            assert len(sink.records) == played(sp)
        # Voiced: no problem. Not voiced (no device, text only, no speaker): it says why.
        if impl.voiced:
            assert sp.audio_problem is None
        else:
            assert sp.audio_problem
    finally:
        sp.close()


def test_muted_says_nothing_and_is_not_busy(impl: Impl, tmp_path: Path) -> None:
    sp = impl.make(tmp_path)
    try:
        sp.muted = True
        sp.say(cue())
        if not isinstance(sp, NullSpeaker | TextSpeaker):
            assert not sp.busy
        assert wait_idle(sp)
        assert played(sp) == 0
    finally:
        sp.close()


def test_close_is_idempotent_prompt_and_say_after_close_is_harmless(
    impl: Impl, tmp_path: Path
) -> None:
    sp = impl.make(tmp_path)
    for text in ("a", "b", "c", "d"):
        sp.say(cue(text))
    t0 = time.perf_counter()
    sp.close()
    # Pending cues are discarded; at most the cue in flight finishes (synthesis + playback).
    assert time.perf_counter() - t0 < SYNTH_S + WAV_S + 2.0
    sp.close()
    n = played(sp)
    sp.say(cue("late"))  # no exception, nothing played
    time.sleep(0.05)
    assert played(sp) == n
    if isinstance(sp, Pyttsx3Speaker):
        assert not sp.busy
        assert n <= 1


def test_engine_or_device_failure_never_raises(impl: Impl, tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    sp = impl.make(tmp_path)
    try:
        with caplog.at_level(logging.WARNING, logger="formcoach.cues.speech"):
            for _ in range(3):
                sp.say(cue("chest up"))
            assert wait_idle(sp)
            # The failures did not kill the worker: it still takes (and finishes) cues.
            t0 = time.perf_counter()
            sp.say(cue("after the failures"))
            assert time.perf_counter() - t0 < SAY_BOUND_S
            assert wait_idle(sp)
        # A failure is logged once, not once per cue.
        assert len([r for r in caplog.records if "cues are shown as text" in r.message]) <= 1
    finally:
        sp.close()


def test_failed_synthesis_is_shown_as_text_and_reported(tmp_path: Path) -> None:
    """An engine that fails on a cue: the cue reaches ``on_text`` and ``audio_problem`` says
    why, so the live summary does not blame muting."""
    texts: list[Any] = []
    sp = Pyttsx3Speaker(FileSink(tmp_path / "out"), engine_factory=BrokenEngine,
                        stale_after_s=None, cache_dir=tmp_path / "cache", on_text=texts.append)
    try:
        sp.say(cue("knees out"))
        assert wait_idle(sp)
    finally:
        sp.close()
    assert sp.played == 0
    assert sp.audio_problem is not None
    assert [c.text for c in texts] == ["knees out"]
