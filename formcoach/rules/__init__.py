"""Form rules: the rules engine (:mod:`formcoach.rules.engine`), rule features
(:mod:`formcoach.kinematics.derived`) and the cue scheduler (:mod:`formcoach.cues.scheduler`).

``from formcoach.rules import RulesEngine, parse_rules`` works.
"""

from formcoach.rules.engine import Rule, RulesEngine, judge_frames, judge_sequence, parse_rules

__all__ = ["Rule", "RulesEngine", "judge_frames", "judge_sequence", "parse_rules"]
