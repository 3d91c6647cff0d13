"""``formcoach report``: the progress report (implemented in :mod:`formcoach.cli.history`)."""

from __future__ import annotations

from formcoach.cli.history import register_report as register

__all__ = ["register"]
