"""Speakers: never block the caller, cache and play WAVs, drop stale cues, fall back to text."""

from __future__ import annotations

import logging
import threading
import time
import wave
from pathlib import Path

import pytest
from fakes import espeak_available, write_tone

from formcoach.clock import FakeClock, MonotonicClock
from formcoach.cues import speech
from formcoach.cues.speech import (
    FileSink,
    FileSpeaker,
    NullSpeaker,
    Pyttsx3Speaker,
    Speaker,
    TextSpeaker,
    create_speaker,
)
from formcoach.errors import BackendUnavailable, InputError
from formcoach.types import NS_PER_S, Cue

NON_BLOCKING_BOUND_S = 0.25  # generous: say() itself must not wait for synthesis (>= 1 s here)


def write_wav(path: Path, seconds: float = 0.05) -> None:
    write_tone(path, seconds, amplitude=0.0)


class SlowEngine:
    """A fake TTS engine that takes ``delay_s`` per text and records its thread."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.threads: set[int] = set()
        self.texts: list[str] = []

    def synthesize(self, text: str, path: Path) -> None:
        self.threads.add(threading.get_ident())
        self.texts.append(text)
        time.sleep(self.delay_s)
        write_wav(path)


def cue(text: str = "go deeper", fault_ns: int | None = None) -> Cue:
    now = MonotonicClock().now_ns() if fault_ns is None else fault_ns
    return Cue(text=text, priority=2, rule_id="depth", fault_t_ns=now, created_ns=now)


def test_say_never_blocks_while_synthesis_is_slow(tmp_path: Path) -> None:
    engine = SlowEngine(delay_s=1.0)
    sink = FileSink(tmp_path / "out")
    sp = Pyttsx3Speaker(sink, engine_factory=lambda: engine, stale_after_s=None)
    try:
        t0 = time.perf_counter()
        sp.say(cue("go deeper"))
        sp.say(cue("knees out"))
        assert time.perf_counter() - t0 < NON_BLOCKING_BOUND_S
        assert sp.busy
        assert sp.wait_idle(timeout_s=10)
        assert not sp.busy
        assert [r.path.name for r in sink.records] == ["0001.wav", "0002.wav"]
        assert sp.played == 2 and sp.audio_problem is None
        assert threading.get_ident() not in engine.threads and len(engine.threads) == 1
    finally:
        sp.close()


def test_wavs_are_cached_and_preloaded(tmp_path: Path) -> None:
    engine = SlowEngine(delay_s=0.0)
    sink = FileSink(tmp_path / "out")
    sp = Pyttsx3Speaker(
        sink, engine_factory=lambda: engine, preload=["go deeper", "go deeper", "chest up"],
        stale_after_s=None,
    )
    try:
        for _ in range(3):
            sp.say(cue("go deeper"))
        assert sp.wait_idle()
        assert engine.texts == ["go deeper", "chest up"]
        assert len(sink.records) == 3
    finally:
        sp.close()


def test_stale_queued_cue_is_dropped(tmp_path: Path) -> None:
    clock = FakeClock(start_ns=10 * NS_PER_S)
    sink = FileSink(tmp_path / "out", clock=clock)
    sp = Pyttsx3Speaker(
        sink, engine_factory=lambda: SlowEngine(0.0), clock=clock, stale_after_s=0.5
    )
    try:
        sp.say(cue("old news", fault_ns=9 * NS_PER_S))  # fault 1 s ago
        sp.say(cue("fresh", fault_ns=10 * NS_PER_S))
        assert sp.wait_idle()
        assert [c.text for c in sp.dropped] == ["old news"]
        assert [e.cue.text for e in sp.history] == ["fresh"]
        assert len(sink.records) == 1
    finally:
        sp.close()


def test_muted_speaker_plays_nothing(tmp_path: Path) -> None:
    sink = FileSink(tmp_path / "out")
    sp = Pyttsx3Speaker(sink, engine_factory=lambda: SlowEngine(0.0), mute=True)
    try:
        sp.say(cue())
        assert not sp.busy
        sp.muted = False
        sp.say(cue())
        assert sp.wait_idle()
        assert len(sink.records) == 1
    finally:
        sp.close()


def test_bad_rate_is_a_one_line_input_error() -> None:
    with pytest.raises(InputError, match="rate"):
        Pyttsx3Speaker(NullSink(), rate=5, engine_factory=lambda: SlowEngine(0.0))


class NullSink:
    name = "null"

    def play(self, wav: Path) -> None:
        pass


class FailingSink:
    name = "broken"

    def __init__(self) -> None:
        self.calls = 0

    def play(self, wav: Path) -> None:
        self.calls += 1
        raise OSError("no default audio device")


def test_failing_sink_warns_once_and_keeps_going(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sink = FailingSink()
    sp = Pyttsx3Speaker(sink, engine_factory=lambda: SlowEngine(0.0), stale_after_s=None)
    try:
        with caplog.at_level(logging.WARNING, logger="formcoach.cues.speech"):
            sp.say(cue("a"))
            sp.say(cue("b"))
            assert sp.wait_idle()
        assert sink.calls == 1
        assert len(sp.history) == 2
        assert sum("audio playback failed" in r.message for r in caplog.records) == 1
        assert sp.played == 0 and sp.audio_problem == "audio playback failed"  # none counted
    finally:
        sp.close()


def test_missing_tts_falls_back_to_text_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_engine(*args: object, **kwargs: object) -> speech.Pyttsx3Engine:
        raise BackendUnavailable("speech needs pyttsx3 (No module named 'pyttsx3')")

    monkeypatch.setattr(speech, "Pyttsx3Engine", broken_engine)
    shown: list[str] = []
    with caplog.at_level(logging.WARNING, logger="formcoach.cues.speech"):
        sp = create_speaker(sink=NullSink(), on_text=lambda c: shown.append(c.text))
        sp.say(cue("chest up"))
        sp.say(cue("knees out"))
    assert isinstance(sp, TextSpeaker)
    assert shown == ["chest up", "knees out"]
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1
    sp.close()


def test_text_speaker_is_busy_for_about_the_spoken_duration() -> None:
    clock = FakeClock()
    sp = TextSpeaker(rate=120, clock=clock)
    sp.say(cue("keep your chest up", fault_ns=0))
    assert sp.busy
    clock.advance(5.0)
    assert not sp.busy


def test_protocol_is_met_by_every_speaker(tmp_path: Path) -> None:
    sp = Pyttsx3Speaker(NullSink(), engine_factory=lambda: SlowEngine(0.0))
    try:
        for s in (NullSpeaker(), TextSpeaker(), sp):
            assert isinstance(s, Speaker)
    finally:
        sp.close()
    sp.close()  # idempotent


@pytest.mark.skipif(not espeak_available(), reason="pyttsx3/espeak-ng not available")
def test_file_speaker_writes_a_valid_wav_with_espeak(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sp = FileSpeaker(tmp_path / "out", preload=["go deeper"], stale_after_s=None)
    try:
        sp.say(cue("go deeper"))
        assert sp.wait_idle(timeout_s=20)
    finally:
        sp.close()
    (rec,) = sp.file_sink.records
    with wave.open(str(rec.path), "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        assert w.getnframes() / w.getframerate() > 0.2
    assert rec.duration_s > 0.2
    assert "Audio saved" not in capsys.readouterr().out  # pyttsx3's driver chatter is hidden


@pytest.mark.skipif(not espeak_available(), reason="pyttsx3/espeak-ng not available")
def test_unknown_voice_is_an_input_error() -> None:
    with pytest.raises(InputError, match="voice"):
        Pyttsx3Speaker(NullSink(), voice="no-such-voice-xyz")
