"""Speaking cues without ever blocking the vision loop.

:class:`Speaker` is the protocol the live loop talks to: ``say(cue)`` returns at once, ``busy``
tells the :class:`~formcoach.cues.scheduler.CueScheduler` whether a cue is still queued or
playing, ``close()`` stops the worker.

:class:`Pyttsx3Speaker` owns one worker thread. The pyttsx3 engine is process-global and not
thread-safe, so it is created and used **only** in that thread. Each cue text is synthesised once
to a WAV (``engine.save_to_file`` + ``runAndWait``; cached per ``(text, voice, rate)``, and the
exercise's cue texts are pre-synthesised at start-up) and played by a pluggable
:class:`AudioSink`: an audio player found on PATH (``aplay``, ``paplay``, ``ffplay``, sox's
``play``), else ``sounddevice``. :class:`FileSink` writes the WAVs to a folder and records when
each "playback" started (tests, latency measurement).

Audio is not trusted on the player's word. :func:`create_speaker` first asks a probe
(:func:`probe_audio_output`: an ALSA card, a PulseAudio/PipeWire server that answers, or a
PortAudio output device) whether this machine has an audio output at all; a
:class:`SubprocessSink` then checks each playback: exit status, device-open errors on stderr
(players such as sox's ``play`` print them and may still exit 0), and that the player ran for
about the WAV's length. A cue counts as played (``Speaker.played``) only when all of that held.
The first failure is logged once (``no audio device: cues are shown as text``) and the rest of
the session is text only (``audio_problem`` says why).

When TTS is unavailable (pyttsx3 or espeak-ng missing, no audio player or device),
:func:`create_speaker` falls back to :class:`TextSpeaker` (cues on screen/log only) with a
single warning.

Every WAV written (cue cache, :class:`FileSink` copies, ``synthesize`` targets) is created
user-only (0600), like every other formcoach output, whatever the umask.

Time: ``*_ns`` values are :func:`time.monotonic_ns` (or the given clock's) nanoseconds.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import wave
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol, TextIO, runtime_checkable

from formcoach.clock import Clock, MonotonicClock
from formcoach.errors import BackendUnavailable, InputError
from formcoach.types import NS_PER_S, Cue

log = logging.getLogger(__name__)

DEFAULT_RATE_WPM = 175
MIN_RATE_WPM, MAX_RATE_WPM = 80, 450


@runtime_checkable
class Speaker(Protocol):
    """Speaks cues asynchronously.

    Attributes:
        muted: cues are not voiced while set (the session still schedules them).
        played: cues an audio device verifiably played so far; None when this speaker cannot
            tell (the live summary then says so).
        audio_problem: why cues are not voiced, or None.
    """

    muted: bool

    @property
    def played(self) -> int | None: ...

    @property
    def audio_problem(self) -> str | None: ...

    def say(self, cue: Cue) -> None:
        """Queue ``cue``; returns immediately (never waits for synthesis or playback)."""
        ...

    @property
    def busy(self) -> bool:
        """True while a cue is queued, being synthesised or playing."""
        ...

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Wait until the last cue has finished (or failed); True when idle in time."""
        ...

    def close(self) -> None:
        """Stop the worker (pending cues are discarded). Idempotent."""
        ...


@dataclass(slots=True)
class SpokenEvent:
    """A cue whose playback started at ``start_ns`` (clock ns); ``wav`` None when text-only.

    ``played`` is True once an audio device verifiably played it (False: shown as text only).
    """

    cue: Cue
    start_ns: int
    wav: Path | None = None
    played: bool = False


#: Short reasons a speaker gives in ``audio_problem`` (the live summary prints them).
NO_AUDIO_DEVICE = "no audio device"
PLAYBACK_FAILED = "audio playback failed"


# --------------------------------------------------------------------------- device probe
#: ``() -> description of an audio output, or None when the machine has none``.
AudioProbe = Callable[[], "str | None"]

_ALSA_CARD = re.compile(r"^\s*\d+\s+\[[^\]]*\]\s*:\s*(.+)$", re.MULTILINE)


def _socket_answers(path: Path, timeout_s: float = 0.2) -> bool:
    """True when a Unix socket at ``path`` accepts a connection (a live sound server)."""
    try:
        if not path.is_socket():
            return False
    except OSError:
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout_s)
        try:
            s.connect(str(path))
        except OSError:
            return False  # a stale socket file left by a server that is gone
    return True


def sound_server_sockets(env: dict[str, str] | os._Environ[str] | None = None) -> list[Path]:
    """Where PulseAudio / PipeWire servers listen for this user (and system-wide Pulse)."""
    env = os.environ if env is None else env
    runtime = env.get("XDG_RUNTIME_DIR") or (
        f"/run/user/{os.getuid()}" if os.name == "posix" else ""
    )
    out = [Path(runtime) / "pulse" / "native", Path(runtime) / "pipewire-0"] if runtime else []
    return [*out, Path("/run/pulse/native"), Path("/var/run/pulse/native")]


def _sounddevice_output() -> str | None:
    try:
        import sounddevice as sd  # type: ignore[import-untyped]

        dev = sd.query_devices(kind="output")
    except Exception:  # missing module, PortAudio library or output device
        return None
    return f"PortAudio output {dev.get('name', '?')}" if isinstance(dev, dict) else None


def probe_audio_output(
    *,
    env: dict[str, str] | os._Environ[str] | None = None,
    asound_cards: Path = Path("/proc/asound/cards"),
    sockets: list[Path] | None = None,
    sounddevice: bool = True,
    platform: str = sys.platform,
) -> str | None:
    """Describe an audio output this machine has, or None when it has none.

    Linux: a network ``PULSE_SERVER``, a PulseAudio/PipeWire socket that accepts a connection, an
    ALSA card in ``/proc/asound/cards``, or a PortAudio output device (``sounddevice``, if
    installed). Other systems are not probed (per-playback checks still apply). Every input is
    a parameter so tests can fake "device present" and "device absent".
    """
    if not platform.startswith("linux"):
        return "system audio (not probed)"
    env = os.environ if env is None else env
    server = env.get("PULSE_SERVER", "")
    if server and not server.startswith(("unix:", "/")):
        return f"PulseAudio server {server}"  # a network server: trusted, playback is checked
    if server and _socket_answers(Path(server.removeprefix("unix:"))):
        return f"PulseAudio server {server}"
    for sock in sound_server_sockets(env) if sockets is None else sockets:
        if _socket_answers(sock):
            return f"sound server at {sock}"
    try:
        cards = _ALSA_CARD.findall(asound_cards.read_text(errors="replace"))
    except OSError:
        cards = []
    if cards:
        return f"ALSA card {cards[0].strip()}"
    return _sounddevice_output() if sounddevice else None


# --------------------------------------------------------------------------- audio sinks
class AudioSink(Protocol):
    """Plays a WAV file; ``play`` blocks until playback ends (called in the speaker's thread).

    Returning normally means the audio was played; anything else must raise.

    Raises:
        NoAudioDevice: there is no device to play on.
        OSError: playback failed (player error, or it evidently did not play).
    """

    name: str

    def play(self, wav: Path) -> None: ...


def wav_duration_s(path: Path) -> float:
    """Duration of a PCM WAV file in seconds (0.0 when unreadable)."""
    try:
        with wave.open(str(path), "rb") as w:
            return w.getnframes() / float(w.getframerate() or 1)
    except (OSError, EOFError, wave.Error):
        return 0.0


class NoAudioDevice(OSError):
    """Playback failed because there is no audio output device."""


#: Player stderr lines that mean the output device could not be opened (ALSA, PulseAudio,
#: sox, SDL/ffplay, PortAudio). Players print some of these and still exit 0.
DEVICE_ERROR = re.compile(
    r"no (default )?(audio|sound|output) device|unknown pcm default|snd_pcm_open error|"
    r"audio open error|(cannot|can't|could not|couldn't|unable to|failed to) "
    r"(open|connect)[^\n]*(audio|sound|device|pcm|server|output|default)|"
    r"connection (refused|failure)|no such (audio|sound) device|"
    r"error opening (audio|output)|invalid output device",
    re.IGNORECASE,
)

#: A player that returns after less than this share of the WAV's length did not play it.
MIN_PLAY_FRACTION = 0.5
#: WAVs shorter than this are not timed (start-up noise dominates).
MIN_TIMED_S = 0.25


def check_played(name: str, duration_s: float, elapsed_s: float) -> None:
    """Raise :class:`NoAudioDevice` when a player returned far too soon to have played.

    A player that "played" 1.2 s of audio in 5 ms wrote it nowhere (no device, a null sink).
    """
    if duration_s >= MIN_TIMED_S and elapsed_s < MIN_PLAY_FRACTION * duration_s:
        raise NoAudioDevice(
            f"{name} returned after {elapsed_s:.3f} s for {duration_s:.2f} s of audio"
        )


class SubprocessSink:
    """Plays WAVs with a command-line player (``argv + [path]``), blocking until it exits.

    The player's exit status is not trusted alone: device-open errors on its stderr and a
    return well before the WAV's duration also mean "not played" (:class:`NoAudioDevice`).
    """

    def __init__(self, argv: list[str]) -> None:
        self.argv = list(argv)
        self.name = Path(argv[0]).name

    def play(self, wav: Path) -> None:
        duration = wav_duration_s(wav)
        t0 = time.monotonic()
        try:
            proc = subprocess.run(
                [*self.argv, str(wav)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                check=False,
                timeout=10.0 + 3.0 * duration,  # a player stuck on a dead server
            )
        except subprocess.TimeoutExpired as e:
            raise OSError(f"{self.name} did not finish within {e.timeout:.0f} s") from e
        elapsed = time.monotonic() - t0
        lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        bad = [ln.strip() for ln in lines if DEVICE_ERROR.search(ln)]
        if bad:
            raise NoAudioDevice(f"{self.name}: {bad[-1]}")
        if proc.returncode != 0:
            raise OSError(f"{self.name} exited {proc.returncode}: {lines[-1] if lines else ''}")
        check_played(self.name, duration, elapsed)


class SoundDeviceSink:
    """Plays WAVs through ``sounddevice`` (PortAudio)."""

    name = "sounddevice"

    def __init__(self) -> None:
        import sounddevice  # type: ignore[import-untyped]  # noqa: F401 - fail early when missing

    def play(self, wav: Path) -> None:
        import numpy as np
        import sounddevice as sd  # type: ignore[import-untyped]

        with wave.open(str(wav), "rb") as w:
            data = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
            rate = w.getframerate()
            channels = w.getnchannels()
        t0 = time.monotonic()
        try:
            sd.play(data.reshape(-1, channels), rate)
            sd.wait()
        except Exception as e:  # PortAudio raises its own types
            raise OSError(f"sounddevice playback failed: {e}") from e
        check_played(self.name, len(data) / channels / float(rate or 1), time.monotonic() - t0)


@dataclass(slots=True)
class PlayRecord:
    """One FileSink 'playback': copied file, start time (clock ns), duration (s)."""

    path: Path
    start_ns: int
    duration_s: float


class FileSink:
    """Writes each played WAV into ``directory`` and records when its 'playback' started.

    Args:
        directory: where numbered copies ``0001.wav``, ``0002.wav``... go (created if missing).
        clock: time source for ``start_ns``.
        realtime: block for the WAV's duration, like a real player (keeps ``busy`` honest).
    """

    name = "file"

    def __init__(
        self,
        directory: str | Path,
        clock: Clock | None = None,
        realtime: bool = False,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.clock = clock if clock is not None else MonotonicClock()
        self.realtime = realtime
        self.records: list[PlayRecord] = []
        self._lock = threading.Lock()

    def play(self, wav: Path) -> None:
        start = self.clock.now_ns()
        with self._lock:
            dest = self.directory / f"{len(self.records) + 1:04d}.wav"
            dur = wav_duration_s(wav)
            self.records.append(PlayRecord(dest, start, dur))
        with open(wav, "rb") as src, open_private(dest) as out:
            shutil.copyfileobj(src, out)
        if self.realtime and dur > 0:
            time.sleep(dur)


def open_private(path: Path) -> BinaryIO:
    """Open ``path`` for binary writing, created or truncated as user-only (0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its old mode through O_CREAT
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "wb")


#: Players tried in order by :func:`default_sink`: argv without the file.
PLAYERS: tuple[tuple[str, ...], ...] = (
    ("aplay", "-q"),
    ("paplay",),
    ("ffplay", "-nodisp", "-autoexit", "-loglevel", "quiet"),
    ("play", "-q"),
)


def default_sink(probe: AudioProbe | None = None) -> AudioSink | None:
    """The first audio player found on PATH, else sounddevice with an output device, else None.

    With ``probe``, None also when the probe finds no audio output device.
    """
    if probe is not None and probe() is None:
        return None
    for argv in PLAYERS:
        exe = shutil.which(argv[0])
        if exe:
            return SubprocessSink([exe, *argv[1:]])
    try:
        import sounddevice as sd  # type: ignore[import-untyped]

        sd.query_devices(kind="output")
        return SoundDeviceSink()
    except Exception:  # missing module, PortAudio or device: no sink
        return None


# --------------------------------------------------------------------------- TTS engines
class TTSEngine(Protocol):
    """Synthesises text to a WAV file; used from one thread only."""

    def synthesize(self, text: str, path: Path) -> None: ...


class _DriverChatterFilter:
    """Wraps a text stream, dropping the ``Audio saved to ...`` lines pyttsx3's espeak driver
    prints (from espeak's callback thread) while passing every other write through."""

    PREFIX = "Audio saved to "

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner
        self._eat_newline: set[int] = set()

    def write(self, s: str) -> int:
        tid = threading.get_ident()
        if s.startswith(self.PREFIX):
            if not s.endswith("\n"):
                self._eat_newline.add(tid)
            return len(s)
        if s == "\n" and tid in self._eat_newline:
            self._eat_newline.discard(tid)
            return len(s)
        return self._inner.write(s)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class Pyttsx3Engine:
    """pyttsx3 (espeak-ng on Linux) writing WAVs. Create and use it in ONE thread.

    Raises:
        BackendUnavailable: pyttsx3 cannot be imported or the driver does not start.
        InputError: ``voice`` matches no installed voice.
    """

    def __init__(self, voice: str | None = None, rate: int = DEFAULT_RATE_WPM) -> None:
        try:
            import pyttsx3  # type: ignore[import-untyped]
        except ImportError as e:
            raise BackendUnavailable(
                f"speech needs pyttsx3 ({e}); install it with 'pip install pyttsx3'"
            ) from e
        try:
            self._engine = pyttsx3.init()
        except Exception as e:  # drivers raise anything (RuntimeError, OSError...)
            raise BackendUnavailable(
                f"text-to-speech did not start ({type(e).__name__}: {e}); "
                "on Linux install espeak-ng (apt install espeak-ng)"
            ) from e
        self._engine.setProperty("rate", int(rate))
        if voice:
            voices = self._engine.getProperty("voices") or []
            match = [v for v in voices if voice in (v.id, v.name)] or [
                v for v in voices if voice.lower() in f"{v.id} {v.name}".lower()
            ]
            if not match:
                names = ", ".join(sorted({str(v.id) for v in voices})[:8])
                raise InputError(f"unknown voice {voice!r}; installed voices include: {names}")
            self._engine.setProperty("voice", match[0].id)

    def synthesize(self, text: str, path: Path) -> None:
        """Write ``text`` spoken to ``path`` (user-only, 0600; replaced atomically)."""
        path = Path(path)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".wav", dir=path.parent)
        os.close(fd)  # 0600 from mkstemp; the driver's wave.open truncates it, keeping the mode
        tmp = Path(tmp_name)
        old = sys.stdout
        sys.stdout = _DriverChatterFilter(old)  # type: ignore[assignment]
        try:
            self._engine.save_to_file(text, str(tmp))
            self._engine.runAndWait()
            if not tmp.is_file() or tmp.stat().st_size <= 44:
                raise OSError(f"TTS wrote no audio for {text!r}")
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        finally:
            if isinstance(sys.stdout, _DriverChatterFilter):
                sys.stdout = old
            tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------- speakers
class NullSpeaker:
    """Says nothing, is never busy; records the cues it was given."""

    def __init__(self) -> None:
        self.muted = False
        self.played = 0  # it plays nothing, verifiably
        self.audio_problem: str | None = "no speaker"
        self.cues: list[Cue] = []

    def say(self, cue: Cue) -> None:
        self.cues.append(cue)

    @property
    def busy(self) -> bool:
        return False

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        return True

    def close(self) -> None:
        pass


def text_duration_s(text: str, rate_wpm: float = DEFAULT_RATE_WPM) -> float:
    """About how long speaking ``text`` takes at ``rate_wpm`` words per minute, seconds."""
    return 0.3 + 60.0 * max(1, len(text.split())) / rate_wpm


class TextSpeaker:
    """Cues only on screen/log. ``busy`` lasts as long as speaking the words would, so the
    scheduler paces cues the same with or without audio.

    Nothing is ever played: ``played`` stays 0 and ``audio_problem`` says why.

    Args:
        rate: words per minute used to estimate how long a cue "plays".
        clock: time source.
        on_say: called with each cue (e.g. print it).
        reason: why cues are text only (``audio_problem``; the live summary prints it).
    """

    def __init__(
        self,
        rate: int = DEFAULT_RATE_WPM,
        clock: Clock | None = None,
        on_say: Callable[[Cue], None] | None = None,
        reason: str = "text only",
    ) -> None:
        self.muted = False
        self.rate = rate
        self.clock = clock if clock is not None else MonotonicClock()
        self.on_say = on_say
        self.played: int | None = 0
        self.audio_problem: str | None = reason
        self.history: list[SpokenEvent] = []
        self._busy_until = 0

    def say(self, cue: Cue) -> None:
        now = self.clock.now_ns()
        log.info("cue: %s", cue.text)
        self.history.append(SpokenEvent(cue, now))
        if self.on_say is not None:
            self.on_say(cue)
        self._busy_until = now + round(text_duration_s(cue.text, self.rate) * NS_PER_S)

    @property
    def busy(self) -> bool:
        return self.clock.now_ns() < self._busy_until

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        return True  # nothing plays: the words are shown at once

    def close(self) -> None:
        pass


class Pyttsx3Speaker:
    """Speaks cues from its own worker thread: synthesise (cached) WAV, then play it.

    ``played`` counts cues a sink verifiably played; after the first failed playback (no
    device, the player did not play) one warning is logged and the rest of the session is
    text: ``on_text`` gets each unvoiced cue, ``audio_problem`` says why, and ``busy`` still
    lasts the cue's duration so pacing does not change.

    Args:
        sink: plays WAVs (None: :func:`default_sink` with :func:`probe_audio_output`; if that
            finds none, cues are not voiced and a warning is logged once).
        voice: voice id or name (substring match), None for the default.
        rate: words per minute, 80..450.
        mute: start muted (``muted`` may be toggled any time).
        stale_after_s: a queued cue is dropped if it cannot start within this many seconds of
            its fault (``cue.fault_t_ns``, clock ns); None disables the check.
        clock: time source (must share the scheduler's timeline).
        preload: cue texts to synthesise at start-up so they start instantly later.
        engine_factory: builds the TTS engine **inside the worker thread** (tests inject fakes).
        cache_dir: where synthesised WAVs go (default: a temp folder removed by ``close``).
        ready_timeout_s: how long the constructor waits for the engine to start (and again for
            the pre-synthesis).
        wait_preload: return from the constructor only once ``preload`` is synthesised.
        on_text: called (in the worker thread) with each cue that was not voiced.

    Raises:
        BackendUnavailable: the TTS engine failed to start (see :func:`create_speaker`).
        InputError: bad ``rate`` or unknown ``voice``.
    """

    def __init__(
        self,
        sink: AudioSink | None = None,
        *,
        voice: str | None = None,
        rate: int | None = None,
        mute: bool = False,
        stale_after_s: float | None = 0.5,
        clock: Clock | None = None,
        preload: Iterable[str] = (),
        engine_factory: Callable[[], TTSEngine] | None = None,
        cache_dir: str | Path | None = None,
        ready_timeout_s: float = 10.0,
        wait_preload: bool = True,
        on_text: Callable[[Cue], None] | None = None,
    ) -> None:
        rate = DEFAULT_RATE_WPM if rate is None else int(rate)
        if not MIN_RATE_WPM <= rate <= MAX_RATE_WPM:
            raise InputError(
                f"speech rate {rate} wpm is out of range; use {MIN_RATE_WPM}..{MAX_RATE_WPM}"
            )
        self.voice = voice
        self.rate = rate
        self.muted = bool(mute)
        self.clock = clock if clock is not None else MonotonicClock()
        self.stale_after_ns = None if stale_after_s is None else round(stale_after_s * NS_PER_S)
        self.on_text = on_text
        self.played: int = 0
        self.audio_problem: str | None = None
        self.sink = sink if sink is not None else default_sink(probe_audio_output)
        if self.sink is None:
            self._audio_failed(NO_AUDIO_DEVICE, "no audio player or output device found")
        self._own_cache = cache_dir is None
        self.cache_dir = Path(cache_dir) if cache_dir else Path(tempfile.mkdtemp(prefix="formcoach-tts-"))
        self.cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._factory = engine_factory or (lambda: Pyttsx3Engine(voice=voice, rate=rate))
        self._queue: queue.Queue[Cue | None] = queue.Queue()
        self._lock = threading.Lock()
        self._outstanding = 0
        self._cache: dict[tuple[str, str, int], Path] = {}
        self._closed = False
        self.history: list[SpokenEvent] = []
        self.dropped: list[Cue] = []
        self.on_start: Callable[[SpokenEvent], None] | None = None
        self._ready = threading.Event()
        self._preloaded = threading.Event()
        self._init_error: BaseException | None = None
        self._preload = [t for t in dict.fromkeys(preload) if t]
        self._thread = threading.Thread(target=self._run, name="formcoach-speech", daemon=True)
        self._thread.start()
        if not self._ready.wait(ready_timeout_s):
            self._init_error = BackendUnavailable(
                f"text-to-speech did not start within {ready_timeout_s:g} s"
            )
        if self._init_error is None and wait_preload:
            # Pre-synthesis is part of start-up, so the first cues start instantly.
            self._preloaded.wait(ready_timeout_s)
        if self._init_error is not None:
            self.close()
            if isinstance(self._init_error, InputError | BackendUnavailable):
                raise self._init_error
            raise BackendUnavailable(f"text-to-speech failed: {self._init_error}") from self._init_error

    # ------------------------------------------------------------ public API
    def say(self, cue: Cue) -> None:
        if self._closed or self.muted:
            return
        with self._lock:
            self._outstanding += 1
        self._queue.put(cue)

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._outstanding > 0

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Block until nothing is queued or playing (tests, end of a set). True if idle."""
        deadline = time.monotonic() + timeout_s
        while self.busy:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Discard pending cues so close() does not wait for a backlog.
        try:
            while True:
                if self._queue.get_nowait() is not None:
                    with self._lock:
                        self._outstanding -= 1
        except queue.Empty:
            pass
        self._queue.put(None)
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5.0)
        if self._own_cache:
            shutil.rmtree(self.cache_dir, ignore_errors=True)

    def __enter__(self) -> Pyttsx3Speaker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --------------------------------------------------------------- worker
    def _wav_for(self, engine: TTSEngine, text: str) -> Path:
        key = (text, self.voice or "", self.rate)
        path = self._cache.get(key)
        if path is None:
            digest = hashlib.sha1(repr(key).encode("utf-8")).hexdigest()[:16]
            path = self.cache_dir / f"{digest}.wav"
            open_private(path).close()  # 0600 before any audio is in it; engines truncate it
            engine.synthesize(text, path)
            os.chmod(path, 0o600)  # an engine that replaced the file
            self._cache[key] = path
        return path

    def _audio_failed(self, problem: str, detail: str) -> None:
        """Switch to text for the rest of the session, saying so once."""
        if self.audio_problem is None:
            self.audio_problem = problem
            log.warning("%s: cues are shown as text (%s)", problem, detail)

    def _stale(self, cue: Cue) -> bool:
        return (
            self.stale_after_ns is not None
            and self.clock.now_ns() - cue.fault_t_ns > self.stale_after_ns
        )

    def _run(self) -> None:
        try:
            engine = self._factory()
        except BaseException as e:  # reported to the constructor
            self._init_error = e
            self._ready.set()
            return
        self._ready.set()
        for text in self._preload:
            try:
                self._wav_for(engine, text)
            except Exception as e:  # a bad cue text must not kill the worker
                log.warning("could not pre-synthesise %r: %s", text, e)
        self._preloaded.set()
        while True:
            cue = self._queue.get()
            if cue is None:
                return
            try:
                self._speak(engine, cue)
            except Exception as e:  # keep speaking later cues
                log.warning("speech failed for %r: %s", cue.text, e)
            finally:
                with self._lock:
                    self._outstanding -= 1

    def _speak(self, engine: TTSEngine, cue: Cue) -> None:
        if self._stale(cue) or self.muted:
            self.dropped.append(cue)
            return
        try:
            wav = self._wav_for(engine, cue.text)
        except Exception as e:  # the engine failed on this text: show it, keep the pacing
            self._audio_failed(PLAYBACK_FAILED, f"could not synthesise {cue.text!r}: {e}")
            self.history.append(SpokenEvent(cue, self.clock.now_ns()))
            if self.on_text is not None:
                self.on_text(cue)
            time.sleep(text_duration_s(cue.text, self.rate))
            return
        if self._stale(cue) or self.muted:  # synthesis of a new text took too long
            self.dropped.append(cue)
            return
        event = SpokenEvent(cue, self.clock.now_ns(), wav)
        self.history.append(event)
        if self.on_start is not None:
            self.on_start(event)
        if self.sink is not None and self.audio_problem is None:
            t0 = time.monotonic()
            try:
                self.sink.play(wav)
            except NoAudioDevice as e:
                self._audio_failed(NO_AUDIO_DEVICE, str(e))
            except OSError as e:
                self._audio_failed(PLAYBACK_FAILED, str(e))
            else:
                event.played = True
                self.played += 1
                return
            played_s = time.monotonic() - t0
        else:
            played_s = 0.0
        if self.on_text is not None:
            self.on_text(cue)
        # No audio: stay busy as long as playing would take, so cue pacing does not change.
        time.sleep(max(0.0, wav_duration_s(wav) - played_s))


class FileSpeaker(Pyttsx3Speaker):
    """A :class:`Pyttsx3Speaker` whose sink is a :class:`FileSink` in ``directory`` (tests)."""

    def __init__(self, directory: str | Path, *, realtime: bool = False, **kwargs: Any) -> None:
        clock = kwargs.get("clock")
        self.file_sink = FileSink(directory, clock=clock, realtime=realtime)
        super().__init__(self.file_sink, **kwargs)


def create_speaker(
    *,
    mute: bool = False,
    voice: str | None = None,
    rate: int | None = None,
    sink: AudioSink | None = None,
    preload: Iterable[str] = (),
    clock: Clock | None = None,
    stale_after_s: float | None = 0.5,
    on_text: Callable[[Cue], None] | None = None,
    probe: AudioProbe | None = None,
) -> Speaker:
    """The best speaker available: :class:`Pyttsx3Speaker`, else :class:`TextSpeaker`.

    Without ``sink``, ``probe`` (default :func:`probe_audio_output`) must find an audio output
    device and a player must exist;
    otherwise, or when pyttsx3/espeak-ng cannot start, cues fall back to text with one
    warning. ``on_text`` gets every cue that is not voiced (all of them in the fallback).

    Raises:
        InputError: bad ``rate`` or unknown ``voice`` (a user mistake, not a missing backend).
    """
    r = DEFAULT_RATE_WPM if rate is None else int(rate)

    def text_only(reason: str) -> TextSpeaker:
        sp = TextSpeaker(rate=r, clock=clock, on_say=on_text, reason=reason)
        sp.muted = mute
        return sp

    if sink is None:
        device = (probe or probe_audio_output)()
        if device is None:
            log.warning("%s: cues are shown as text", NO_AUDIO_DEVICE)
            return text_only(NO_AUDIO_DEVICE)
        log.debug("audio output: %s", device)
        sink = default_sink()
        if sink is None:
            log.warning(
                "no audio player found (install alsa-utils for aplay, or sounddevice): "
                "cues are shown as text"
            )
            return text_only("no audio player")
    try:
        return Pyttsx3Speaker(
            sink,
            voice=voice,
            rate=r,
            mute=mute,
            clock=clock,
            preload=preload,
            stale_after_s=stale_after_s,
            on_text=on_text,
        )
    except BackendUnavailable as e:
        log.warning("%s; cues are shown as text", e)
        return text_only("no text-to-speech")
