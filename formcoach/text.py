"""Safe handling of user-supplied text files and strings (packs, manifests, profiles).

* :func:`clean_text` makes a string safe to print on a terminal or write to a log: C0 and C1
  control characters (ESC, CSI, BEL, CR, DEL, ...) become visible ``\\xNN`` escapes, so a rule
  pack's cue ``"\\x1b[2J..."`` cannot clear the screen or recolour the output.
* :func:`read_text_capped` reads a small config file with a size limit, so a huge or endless
  file is refused before it is read into memory.
* :func:`json_depth` measures JSON nesting without recursion, so a deeply nested document is
  refused before :mod:`json` recurses into it.

Limits (documented in ``docs/robustness.md``): :data:`MAX_CONFIG_BYTES` for rule packs, camera
and user profiles, :data:`MAX_MANIFEST_BYTES` for ``eval`` manifests, :data:`MAX_JSON_DEPTH`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from formcoach.errors import FormcoachError

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_MANIFEST_BYTES",
    "bracket_depth",
    "clean_text",
    "has_control",
    "json_depth",
    "parse_json",
    "read_text_capped",
]

#: Largest rule pack / camera profile / user profile accepted, bytes (bundled packs are < 4 KB).
MAX_CONFIG_BYTES = 256 * 1024
#: Largest ``eval`` manifest accepted, bytes (the 200-clip data manifest is ~28 KB).
MAX_MANIFEST_BYTES = 8 * 1024 * 1024
#: Deepest nesting of JSON arrays/objects accepted (formcoach's own files use at most 4).
MAX_JSON_DEPTH = 32

# C0 controls except TAB and LF, DEL, and the C1 controls (U+0080..U+009F: 0x9b is CSI).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_ALL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clean_text(text: str, keep_newlines: bool = True) -> str:
    """``text`` with terminal control characters replaced by ``\\xNN`` escapes.

    TAB and LF are kept unless ``keep_newlines`` is False (for one-line fields).
    """
    pat = _CONTROL if keep_newlines else _CONTROL_ALL
    return pat.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def has_control(text: str) -> bool:
    """True when :func:`clean_text` would change ``text`` (one-line rules: TAB/LF count)."""
    return _CONTROL_ALL.search(text) is not None


def read_text_capped(path: Path, max_bytes: int, what: str, error: type[FormcoachError],
                     read_error: type[FormcoachError] | None = None) -> str:
    """Read a UTF-8 text file of at most ``max_bytes``.

    Raises:
        error: larger than the limit or not UTF-8 (one line naming ``what``); also when it
            cannot be read, unless ``read_error`` is given for that.
    """
    try:
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise (read_error or error)(clean_text(f"cannot read {what} {path}: {e.strerror or e}", False)) from e
    if len(data) > max_bytes:
        raise error(clean_text(
            f"{what} {path} is larger than {max_bytes // 1024} KiB; that is not a formcoach "
            f"{what} (the limit is there to refuse crafted input)", False))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise error(clean_text(
            f"{what} {path} is not UTF-8 text (byte {e.start}); is it a binary file?", False)
        ) from e


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def bracket_depth(skeleton: str) -> tuple[int, int]:
    """``(deepest [/{ nesting, index where it is reached)`` of a text whose strings are already
    removed; linear, no recursion (an unbalanced close only lowers the count)."""
    data = skeleton.encode("utf-8", "replace")
    if not data:
        return 0, 0
    b = np.frombuffer(data, dtype=np.uint8)
    opens = (b == ord("[")) | (b == ord("{"))
    closes = (b == ord("]")) | (b == ord("}"))
    depth = np.cumsum(opens.astype(np.int64) - closes)
    i = int(np.argmax(depth))
    return max(0, int(depth[i])), len(data[:i].decode("utf-8", "replace"))


def json_depth(text: str) -> int:
    """Deepest ``[``/``{`` nesting of a JSON text (strings ignored), without recursion."""
    return bracket_depth(_JSON_STRING.sub("", text))[0]


def parse_json(text: str, path: Path, what: str, error: type[FormcoachError]) -> Any:
    """Parse a JSON text read from ``path`` with the nesting limit.

    Raises:
        error: invalid JSON (with ``path:line``), nesting deeper than :data:`MAX_JSON_DEPTH`,
            or a number Python refuses (e.g. an integer of thousands of digits).
    """
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise error(clean_text(f"{path}: {what} is nested {depth} levels deep (the limit is "
                               f"{MAX_JSON_DEPTH}); not a formcoach {what}", False))
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise error(clean_text(f"{path}:{e.lineno}: {what} is not valid JSON ({e.msg})",
                               False)) from e
    except (ValueError, RecursionError) as e:
        raise error(clean_text(f"{path}: {what} has an unreadable value ({str(e)[:80]})",
                               False)) from e
