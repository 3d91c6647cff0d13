"""formcoach's exception hierarchy.

Every error a user can cause derives from :class:`FormcoachError`; the CLI prints its message as
one line and exits non-zero. Messages name the bad value and say how to fix it.
"""

from __future__ import annotations


class FormcoachError(Exception):
    """Base class for every error formcoach reports to a user."""

    exit_code: int = 2


class InputError(FormcoachError):
    """A user-supplied file, video, camera or argument is unusable."""


class ModelError(FormcoachError):
    """A bundled model file is missing, corrupt or cannot be loaded."""


class ConfigError(FormcoachError):
    """A rule pack, profile or setting is malformed (message carries file:line where known)."""


class BackendUnavailable(FormcoachError):
    """An optional backend or extra is not installed; the message names what to install."""


class SourceError(FormcoachError):
    """A frame source (camera or video) failed while running."""


class StoreError(InputError):
    """The session database cannot be used right now (locked, full disk, not ours, unwritable).

    Outputs that do not depend on the database (JSON, report, CSV, video) are still written
    when it is raised during an analysis.
    """


class NotOurDatabase(StoreError):
    """The session-database path can never be formcoach's (a folder, another program's file,
    not SQLite, a newer schema, a dangling link): refused before any work starts, unlike a
    database that is only locked or full right now."""
