"""Privacy (issues 9 and 14): formcoach never talks to the network and writes only where told.

Two layers:

* ``test_no_python_socket_is_opened``: each command runs with Python's ``socket`` blocked (a
  ``sitecustomize`` that records and refuses any AF_INET/AF_INET6 socket). Cheap, needs nothing.
* ``test_entry_point_sends_nothing_and_writes_only_where_told``: every entry point (``demo``,
  ``analyze`` on a 60+ s clip, ``live --source`` for 60+ s, ``bench --quick``) runs under
  ``strace -f`` inside a network namespace with no usable interface (``unshare -n``), so native
  code (onnxruntime, MediaPipe, espeak) is watched too, and a lookup that the namespace makes fail
  still shows up as a ``connect``/``sendto``. onnxruntime 1.29+ starts a telemetry thread about
  9 s after import (DNS for mobile.events.data.microsoft.com, files under
  ``~/.cache/Microsoft``); the runs last long enough to see it. The four runs start at once
  (``live`` is paced to real time, so it mostly waits).

The children's environment drops the variables by which onnxruntime decides it runs in CI (it
then keeps telemetry off on its own, which would hide a regression in CI) and any ``ORT_*``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO, SAMPLES

SAMPLE = SAMPLES / "squat_side_clean.mp4"

#: Variables onnxruntime reads to tell it runs in CI (found in its binary), plus the generic
#: ``CI`` our own CI sets and Azure's ``BUILD_BUILDID``. Removed from every child's environment.
CI_VARS = (
    "CI", "TF_BUILD", "BUILD_BUILDID", "GITHUB_ACTIONS", "GITLAB_CI", "CIRCLECI", "TRAVIS",
    "JENKINS_URL", "CODEBUILD_BUILD_ID", "BUILDKITE", "TEAMCITY_VERSION", "APPVEYOR",
    "BITBUCKET_BUILD_NUMBER",
)

SITECUSTOMIZE = '''
import os, socket
_LOG = os.environ["FORMCOACH_NET_LOG"]
_Base = socket.socket
class _Guarded(_Base):
    def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
        if fileno is None and family in (-1, socket.AF_INET, socket.AF_INET6):
            with open(_LOG, "a") as f:
                f.write(f"socket family={family} type={type}\\n")
            raise OSError("network access blocked by formcoach's privacy test")
        super().__init__(family, type, proto, fileno)
socket.socket = _Guarded
'''


def _env(box: Path) -> dict[str, str]:
    """The child environment: this checkout's code, every user/cache/temp dir inside ``box``."""
    env = {k: v for k, v in os.environ.items() if k not in CI_VARS and not k.startswith("ORT_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    home = box / "home"
    for sub in ("data", "config", "cache", "tmp"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    env["HOME"] = str(home)
    env["XDG_DATA_HOME"] = str(home / "data")
    env["XDG_CONFIG_HOME"] = str(home / "config")
    env["XDG_CACHE_HOME"] = str(home / "cache")
    env["TMPDIR"] = str(home / "tmp")
    env["FORMCOACH_DB"] = str(box / "sessions.db")
    env["FORMCOACH_CONFIG_DIR"] = str(home / "config" / "formcoach")
    env["PYTHONPYCACHEPREFIX"] = str(box / "pycache")  # Python's own .pyc files, not formcoach's
    env.setdefault("NUMBA_CACHE_DIR", str(box / "numba"))
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    # What a user runs: --model auto, so the start-up timing of the pose models is watched too
    # (the suite pins FORMCOACH_MODEL for reproducible results elsewhere).
    env.pop("FORMCOACH_MODEL", None)
    return env


# -- layer 1: Python sockets -------------------------------------------------------------------

QUICK_COMMANDS = {
    "demo": ["demo", "--out", "{tmp}/demo"],
    "analyze": ["analyze", str(SAMPLE), "--exercise", "squat", "--json", "{tmp}/a.json"],
    "live": ["live", "--exercise", "squat", "--source", str(SAMPLE), "--no-window", "--mute",
             "--skip-setup", "--max-seconds", "3"],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(QUICK_COMMANDS))
def test_no_python_socket_is_opened(tmp_path: Path, name: str) -> None:
    env = _env(tmp_path)
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env["PYTHONPATH"] = os.pathsep.join([str(site), env["PYTHONPATH"]])
    env["FORMCOACH_NET_LOG"] = str(tmp_path / "net.log")
    before = set(tmp_path.rglob("*"))
    argv = [sys.executable, "-m", "formcoach", *[a.format(tmp=tmp_path) for a in QUICK_COMMANDS[name]]]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    log = tmp_path / "net.log"
    assert not log.exists(), log.read_text()
    # Frames/video are written only when asked: no image or video files appear unasked.
    new = set(tmp_path.rglob("*")) - before
    media = [p for p in new if p.suffix.lower() in {".mp4", ".avi", ".png", ".jpg", ".jpeg"}]
    assert media == [], media


# -- layer 2: strace inside an empty network namespace -----------------------------------------

#: Seconds of video in the generated clip, and the least a ``live`` run must last.
CLIP_SECONDS = 63.0
LIVE_MIN_SECONDS = 60.0

#: The entry points, ``{out}`` = the run's output folder, ``{clip}`` = the generated long clip.
ENTRY_POINTS = {
    "demo": ["demo", "--out", "{out}/demo"],
    "analyze": ["analyze", "{clip}", "--exercise", "squat", "--json", "{out}/a.json",
                "--report", "{out}/a.html"],
    "live": ["live", "--exercise", "squat", "--source", "{clip}", "--no-window", "--mute",
             "--skip-setup", "--max-seconds", "90"],
    "bench": ["bench", "--quick", "--json", "{out}/bench.json", "--shared", "{out}/no-shared"],
}

TRACED = (
    "socket,connect,sendto,sendmsg,sendmmsg,"
    "open,openat,openat2,creat,mkdir,mkdirat,rename,renameat,renameat2,link,linkat,symlink,"
    "symlinkat,truncate"
)

#: Where a run may write besides its sandbox (HOME, XDG dirs, TMPDIR, outputs, cwd, .pyc prefix)
#: and NUMBA_CACHE_DIR: the null device, POSIX shared memory (semaphores, OpenMP/TBB), and the
#: process's own /proc entries (thread names, oom score). Nothing else.
ALLOWED_PREFIXES = ("/dev/null", "/dev/shm/", "/proc/self/", "/proc/thread-self/")
PROC_PID = re.compile(r"^/proc/\d+/")

WRITE_FLAGS = re.compile(r"\bO_(WRONLY|RDWR|CREAT|TRUNC|APPEND|TMPFILE)\b")
LOOPBACK = re.compile(r"^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$")
LINE = re.compile(r"^(?P<pid>\d+)\s+(?P<call>\w+)\((?P<args>.*)\)\s+=\s+(?P<ret>.*)$")


@dataclass
class Run:
    name: str
    box: Path
    cwd: Path
    argv: list[str]
    code: int
    seconds: float
    stderr: str
    lines: list[str]


def _joined(text: str) -> list[str]:
    """strace lines with ``<unfinished ...>`` / ``<... resumed>`` pairs glued back together."""
    pending: dict[str, str] = {}
    out = []
    for ln in text.splitlines():
        m = re.match(r"^(\d+)\s+(.*)$", ln)
        if not m:
            continue
        pid, rest = m.groups()
        if rest.endswith("<unfinished ...>"):
            pending[pid] = rest[: -len("<unfinished ...>")].rstrip()
            continue
        r = re.match(r"^<\.\.\. \w+ resumed>\s?(.*)$", rest)
        if r:
            rest = pending.pop(pid, "") + r.group(1)
        out.append(f"{pid} {rest}")
    return out


def _decorated_path(arg: str) -> str | None:
    """The path strace -yy prints for a descriptor argument (``3</a/b>``, ``AT_FDCWD</a>``)."""
    m = re.match(r"^\s*(?:\d+|AT_FDCWD)<(.*)>$", arg)
    return m.group(1) if m else None


def _strings(args: str) -> list[str]:
    return [bytes(s, "utf-8").decode("unicode_escape") for s in re.findall(r'"((?:[^"\\]|\\.)*)"', args)]


def _written_paths(line: str, cwd: Path) -> list[str]:
    """Absolute paths that a file-creating/writing call in ``line`` targets (none if read-only)."""
    m = LINE.match(line)
    if not m:
        return []
    call, args, ret = m.group("call"), m.group("args"), m.group("ret")
    if ret.startswith("-1 EEXIST"):  # mkdir/O_EXCL on something that exists: nothing written
        return []
    parts = [p.strip() for p in re.split(r",\s(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", args)]
    strs = _strings(args)
    if not strs:
        return []

    def resolve(p: str, dirfd: str | None = None) -> str:
        if p.startswith("/"):
            return os.path.normpath(p)
        base = _decorated_path(dirfd) if dirfd is not None else None
        return os.path.normpath(os.path.join(base or str(cwd), p))

    if call in ("open", "openat", "openat2"):
        flags = parts[1] if call == "open" else (parts[2] if len(parts) > 2 else "")
        if not WRITE_FLAGS.search(flags):
            return []
        return [resolve(strs[0], parts[0] if call != "open" else None)]
    if call in ("creat", "mkdir", "truncate"):
        return [resolve(strs[0])]
    if call == "mkdirat":
        return [resolve(strs[0], parts[0])]
    if call in ("rename", "link", "symlink"):
        return [resolve(strs[-1])]
    if call in ("renameat", "renameat2", "linkat"):
        return [resolve(strs[-1], parts[2] if len(parts) > 2 else None)]
    if call == "symlinkat":
        return [resolve(strs[-1], parts[1] if len(parts) > 1 else None)]
    return []


def _write_allowed(path: str, roots: list[str]) -> bool:
    if any(path == r or path.startswith(r + os.sep) for r in roots):
        return True
    return path.startswith(ALLOWED_PREFIXES) or bool(PROC_PID.match(path))


def _is_outbound(line: str) -> bool:
    """A connect/send* that may reach another machine: not AF_UNIX/AF_NETLINK, not loopback."""
    m = LINE.match(line)
    if not m or m.group("call") not in ("connect", "sendto", "sendmsg", "sendmmsg"):
        return False
    args = m.group("args")
    fam = re.search(r"sa_family=(AF_\w+)", args)
    fd = re.match(r"^\d+<(\w[\w-]*):\[(.*?)\]>", args)
    kind = fd.group(1) if fd else ""
    if (fam and fam.group(1) in ("AF_UNIX", "AF_NETLINK")) or kind.startswith(("UNIX", "NETLINK")):
        return False
    addrs = re.findall(r'inet_addr\("([^"]+)"\)', args)
    addrs += re.findall(r'inet_pton\(AF_INET6, "([^"]+)"', args)
    if fd and "->" in fd.group(2):  # a connected socket: strace -yy shows local->remote
        addrs.append(fd.group(2).split("->")[1].rsplit(":", 1)[0].strip("[]"))
    return not addrs or not all(LOOPBACK.match(a) for a in addrs)


def _long_clip(dest: Path) -> Path:
    """A >= CLIP_SECONDS mp4 made by looping the bundled squat sample (built per test run)."""
    import cv2

    cap = cv2.VideoCapture(str(SAMPLE))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    assert frames, f"cannot read {SAMPLE}"
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(dest), cv2.VideoWriter.fourcc(*"mp4v"), fps, (w, h))
    need = int(CLIP_SECONDS * fps) + 1
    for i in range(need):
        writer.write(frames[i % len(frames)])
    writer.release()
    return dest


def _sandbox_prefix() -> list[str]:
    """``unshare -n`` (or ``-rn`` without root); skips the module where neither can trace."""
    for tool in ("strace", "unshare"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (util-linux / strace packages)")
    errors = []
    for prefix in (["unshare", "-n"], ["unshare", "-r", "-n"]):
        probe = [*prefix, "strace", "-f", "-qq", "-o", os.devnull, "true"]
        try:
            out = subprocess.run(probe, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            errors.append(f"{' '.join(probe)}: {e}")
            continue
        if out.returncode == 0:
            return prefix
        errors.append(f"{' '.join(probe)}: {out.stderr.strip()[:200]}")
    pytest.skip("cannot run strace inside a network namespace here: " + " | ".join(errors))


@pytest.fixture(scope="module")
def traced_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """All entry points, started together, each under strace in an empty network namespace."""
    prefix = _sandbox_prefix()
    root = tmp_path_factory.mktemp("privacy")
    clip = _long_clip(root / "long_squat.mp4")
    procs = {}
    for name, args in ENTRY_POINTS.items():
        box = root / name
        out, cwd = box / "out", box / "cwd"
        (out / "no-shared").mkdir(parents=True)  # bench: no real clips, the same work everywhere
        cwd.mkdir()
        env = _env(box)
        trace = box / "strace.log"
        argv = [sys.executable, "-m", "formcoach", *[a.format(out=out, clip=clip) for a in args]]
        cmd = [*prefix, "strace", "-f", "-qq", "-yy", "-s", "120", "-e", f"trace={TRACED}",
               "-o", str(trace), *argv]
        err = open(box / "stderr.txt", "w+")  # closed after the wait below
        p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        procs[name] = (p, err, box, cwd, argv, trace, time.monotonic())
    runs = {}
    for name, (p, err, box, cwd, argv, trace, t0) in procs.items():
        try:
            code = p.wait(timeout=1500)
        except subprocess.TimeoutExpired:
            p.kill()
            code = p.wait()
        seconds = time.monotonic() - t0
        err.seek(0)
        stderr = err.read()
        err.close()
        lines = _joined(trace.read_text(errors="replace")) if trace.exists() else []
        runs[name] = Run(name, box, cwd, argv, code, seconds, stderr, lines)
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ENTRY_POINTS))
def test_entry_point_sends_nothing_and_writes_only_where_told(traced_runs: dict[str, Run], name: str) -> None:
    run = traced_runs[name]
    assert run.code == 0, f"{' '.join(run.argv)} exited {run.code}:\n{run.stderr[-2000:]}"
    assert run.lines, f"strace recorded nothing for {name}"
    if name == "live":
        assert run.seconds >= LIVE_MIN_SECONDS, f"live ran {run.seconds:.0f} s, too short to see telemetry"

    outbound = [ln for ln in run.lines if _is_outbound(ln)]
    assert outbound == [], f"{name}: {len(outbound)} non-local connect/send calls:\n" + "\n".join(
        outbound[:8]
    )

    roots = [str(run.box), os.path.normpath(_env(run.box)["NUMBA_CACHE_DIR"])]
    stray = [(p, ln) for ln in run.lines for p in _written_paths(ln, run.cwd) if not _write_allowed(p, roots)]
    assert stray == [], f"{name}: {len(stray)} writes outside the sandbox:\n" + "\n".join(
        ln for _, ln in stray[:8]
    )

    home = run.box / "home"
    microsoft = sorted(str(p) for p in home.rglob("*") if "Microsoft" in p.name or p.name == ".onnxruntime")
    assert microsoft == [], f"{name}: onnxruntime telemetry files appeared: {microsoft[:5]}"
    touched = [ln for ln in run.lines if "/Microsoft/" in ln or ".onnxruntime/" in ln]
    assert touched == [], f"{name}: opened onnxruntime's telemetry cache:\n" + "\n".join(touched[:5])


@pytest.mark.slow
def test_mediapipe_backend_telemetry_never_leaves_the_machine(tmp_path: Path) -> None:
    """libmediapipe posts usage telemetry; formcoach points it at a closed loopback port."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    trace = tmp_path / "strace.log"
    argv = [sys.executable, "-m", "formcoach", "analyze", str(SAMPLE), "--exercise", "squat",
            "--json", str(tmp_path / "a.json"), "--backend", "mediapipe"]
    cmd = ["strace", "-f", "-qq", "-yy", "-e", "trace=socket,connect,sendto,sendmsg,sendmmsg",
           "-o", str(trace), *argv]
    out = subprocess.run(cmd, env=_env(tmp_path), capture_output=True, text=True, timeout=900, cwd=tmp_path)
    if out.returncode != 0 and "ptrace" in out.stderr:
        pytest.skip("ptrace not permitted here")
    assert out.returncode == 0, out.stderr[-2000:]
    outbound = [ln for ln in _joined(trace.read_text()) if _is_outbound(ln)]
    assert outbound == [], outbound[:5]


# -- the parser itself (fast) ------------------------------------------------------------------


def test_parser_flags_dns_and_foreign_writes_but_not_local_traffic(tmp_path: Path) -> None:
    dns = ('7 connect(4<UDP:[55537]>, {sa_family=AF_INET, sin_port=htons(53), '
           'sin_addr=inet_addr("10.255.255.53")}, 16) = -1 ENETUNREACH (Network is unreachable)')
    sent = '7 sendmmsg(4<UDP:[192.0.2.2:38711->10.255.255.53:53]>, [...], 2, MSG_NOSIGNAL) = 2'
    lo = ('7 connect(3<TCP:[9]>, {sa_family=AF_INET, sin_port=htons(9), '
          'sin_addr=inet_addr("127.0.0.1")}, 16) = -1 ECONNREFUSED (Connection refused)')
    unix = ('7 connect(4<UNIX-STREAM:[1]>, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) '
            '= -1 ENOENT')
    assert [_is_outbound(x) for x in (dns, sent, lo, unix)] == [True, True, False, False]
    split = '7 openat(AT_FDCWD</a>, "x", O_RDONLY <unfinished ...>\n7 <... openat resumed>) = 3'
    assert _joined(split) == ['7 openat(AT_FDCWD</a>, "x", O_RDONLY) = 3']
    w = '7 openat(AT_FDCWD</w/cwd>, "../h/.cache/Microsoft/x.db", O_RDWR|O_CREAT|O_CLOEXEC, 0644) = 5</x>'
    r = '7 openat(AT_FDCWD</w>, "/etc/hosts", O_RDONLY|O_CLOEXEC) = 4</etc/hosts>'
    mk = '7 mkdir("/root/.cache/Microsoft", 0777) = 0'
    ex = '7 mkdir("/tmp", 0777) = -1 EEXIST (File exists)'
    mv = '7 rename("/box/a.tmp", "/etc/a") = 0'
    got = [_written_paths(x, tmp_path) for x in (w, r, mk, ex, mv)]
    assert got == [["/w/h/.cache/Microsoft/x.db"], [], ["/root/.cache/Microsoft"], [], ["/etc/a"]]
    assert _write_allowed("/box/out/a.json", ["/box"]) and _write_allowed("/proc/123/comm", [])
    assert not _write_allowed("/boxer/a", ["/box"]) and not _write_allowed("/etc/a", ["/box"])
