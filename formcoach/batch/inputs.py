"""What a batch analyses: video files, folders of them (recursively) and manifests.

A manifest is a ``.csv`` with a header row, or a ``.json`` list of objects (or of path
strings), with the columns ``path`` (required; relative to the manifest's folder), ``exercise``
(optional: else ``--exercise``) and ``patient`` (optional: the summary's and the stored set's). Every
problem is found before anything is analysed and reported in one line.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from formcoach.errors import FormcoachError, InputError
from formcoach.io_utils import display_path

__all__ = ["MANIFEST_SUFFIXES", "BatchItem", "check_exercises", "expand_inputs"]

MANIFEST_SUFFIXES = (".csv", ".json")
#: Manifest columns formcoach reads (others are ignored).
COLUMNS = ("path", "exercise", "patient")


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One file to analyse.

    Attributes:
        path: the video, as given (or joined to its manifest's folder); it is the ``source`` of
            the result, as ``formcoach analyze PATH`` would print it.
        exercise: exercise id, alias, pack path or ``auto``.
        patient: the manifest's patient column ("" when none; checked as a name): the
            stored set's patient, added to the database when new.
        origin: where it was named (``m.csv row 3``, or the argument), for messages.
    """

    path: str
    exercise: str
    patient: str = ""
    origin: str = ""


def _video_suffixes() -> set[str]:
    from formcoach.sources import VIDEO_SUFFIXES

    return set(VIDEO_SUFFIXES)


def _walk(folder: Path) -> list[Path]:
    """Video files under ``folder`` (recursively, sorted); an unreadable folder is an error."""
    suffixes = _video_suffixes()
    found: list[Path] = []

    def fail(e: OSError) -> None:
        raise InputError(f"cannot read folder {display_path(e.filename or folder)}: "
                         f"{e.strerror or e}")

    for root, dirs, files in os.walk(folder, onerror=fail):
        dirs.sort()
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(Path(root) / f for f in sorted(files)
                     if not f.startswith(".") and Path(f).suffix.lower() in suffixes)
    return found


def _rows(manifest: Path) -> list[dict[str, str]]:
    """The manifest's rows as ``{column: text}``.

    Raises:
        InputError: unreadable, not CSV/JSON of the expected shape, or no ``path`` column.
    """
    name = display_path(manifest)
    try:
        text = manifest.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise InputError(f"cannot read manifest {name}: {why}") from e
    if manifest.suffix.lower() == ".json":
        from formcoach.text import MAX_JSON_DEPTH, json_depth

        depth = json_depth(text)
        if depth > MAX_JSON_DEPTH:  # json.loads would recurse past Python's limit
            raise InputError(f"manifest {name} is nested {depth} levels deep (the limit is "
                             f"{MAX_JSON_DEPTH}); a manifest is a list of objects")
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"manifest {name} is not valid JSON ({e.msg} at line {e.lineno})"
                             ) from e
        except (ValueError, RecursionError) as e:  # e.g. an integer of thousands of digits
            raise InputError(f"manifest {name} has an unreadable value ({str(e)[:80]})") from e
        if isinstance(doc, dict) and isinstance(doc.get("files"), list):
            doc = doc["files"]
        if not isinstance(doc, list):
            raise InputError(f"manifest {name} must be a JSON list of objects with a 'path'")
        rows = []
        for i, r in enumerate(doc, 1):
            if isinstance(r, str):
                r = {"path": r}
            if not isinstance(r, dict):
                raise InputError(f"manifest {name} entry {i}: expected an object with a 'path', "
                                 f"got {type(r).__name__}")
            rows.append({k: "" if r.get(k) is None else str(r[k]) for k in COLUMNS})
        return rows
    reader = csv.DictReader(text.splitlines())
    try:
        fields = [f.strip().lower() for f in reader.fieldnames or []]
        if "path" not in fields:
            raise InputError(f"manifest {name} has no 'path' column (header: "
                             f"{', '.join(fields) or 'empty'}); columns: path, exercise, patient")
        reader.fieldnames = fields
        out = []
        for r in reader:
            if None in r:
                raise InputError(f"manifest {name} row {reader.line_num}: more values than "
                                 "columns")
            out.append({k: (r.get(k) or "").strip() for k in COLUMNS})
    except csv.Error as e:  # e.g. a field past the csv module's 128 KiB limit (was internal)
        raise InputError(f"manifest {name} is not readable CSV ({e})") from e
    return out


def _from_manifest(manifest: Path, exercise: str | None) -> list[BatchItem]:
    base = manifest.parent
    name = display_path(manifest)
    items = []
    for i, row in enumerate(_rows(manifest), 1):
        where = f"manifest {name} row {i}"
        if not row["path"]:
            raise InputError(f"{where}: empty path")
        ex = row["exercise"] or exercise
        if not ex:
            raise InputError(f"{where}: no exercise; add an 'exercise' column or give --exercise")
        p = Path(row["path"]).expanduser()
        p = p if p.is_absolute() else base / p
        if not p.is_file():
            raise InputError(f"{where}: no such video file {display_path(p)}")
        patient = row["patient"]
        if patient:
            from formcoach.store import check_name

            try:
                patient = check_name(patient)
            except InputError as e:
                raise InputError(f"{where}: {e}") from None
        items.append(BatchItem(os.fspath(p), ex, patient, where))
    return items


def expand_inputs(inputs: Sequence[str], exercise: str | None) -> list[BatchItem]:
    """Every file named by ``inputs`` (files, folders, manifests), in order.

    Args:
        inputs: the command line's INPUTs.
        exercise: ``--exercise`` (None: each manifest row must name one).

    Raises:
        InputError: a missing input, an unreadable folder or manifest, a bad manifest row, a
            file without an exercise, or nothing to analyse.
    """
    items: list[BatchItem] = []
    for arg in inputs:
        p = Path(arg)
        if p.is_dir():
            if exercise is None:
                raise InputError(f"folder {display_path(p)}: give --exercise (or a manifest with "
                                 "an 'exercise' column)")
            videos = _walk(p)
            if not videos:
                raise InputError(f"folder {display_path(p)} has no video files "
                                 f"({', '.join(sorted(_video_suffixes()))})")
            items.extend(BatchItem(os.fspath(v), exercise, "", display_path(p)) for v in videos)
        elif p.is_file() and p.suffix.lower() in MANIFEST_SUFFIXES:
            items.extend(_from_manifest(p, exercise))
        elif p.is_file():
            if exercise is None:
                raise InputError(f"{display_path(p)}: give --exercise")
            items.append(BatchItem(arg, exercise, "", display_path(p)))
        elif os.path.lexists(p):
            raise InputError(f"input {display_path(p)} is not a file or folder")
        else:
            raise InputError(f"no such file or folder: {display_path(p)}")
    if not items:
        raise InputError("nothing to analyse; give video files, folders or a manifest")
    return items


def check_exercises(items: Iterable[BatchItem]) -> None:
    """Load every distinct exercise once, so an unknown one fails before the batch starts.

    Raises:
        InputError: names the exercise and where it came from.
    """
    from formcoach.exercises import load_exercise

    seen: dict[str, str] = {}
    for it in items:
        if it.exercise in seen or it.exercise.strip().lower() == "auto":
            continue
        seen[it.exercise] = it.origin
        try:
            load_exercise(it.exercise)
        except FormcoachError as e:
            raise InputError(f"{it.origin}: {e}") from e
