"""Form rules: the rules engine (:mod:`formcoach.rules.engine`), rule features
(:mod:`formcoach.kinematics.derived`) and the cue scheduler (:mod:`formcoach.cues.scheduler`).

``from formcoach.rules import RulesEngine, parse_rules`` works; submodules import lazily so that
importing the package stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Rule", "RulesEngine", "judge_frames", "judge_sequence", "parse_rules"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from formcoach.rules import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'formcoach.rules' has no attribute {name!r}")
