"""The rule language and the vectorised engine (see docs/engine.md).

load_rules(paths) -> RuleSet           validate_rules(paths) -> list[Problem]
evaluate(observations, rules, periods=None, mirrors=None) -> list[Alert]
    (mirrors: other sources' observations by name, for mirror_gap)
check_missing(observations, rules, now) -> list[Alert]
"""

from monitor.engine.evaluate import check_missing, evaluate
from monitor.engine.rules import Condition, Rule, RuleSet, load_rules, validate_rules

__all__ = [
    "Condition",
    "Rule",
    "RuleSet",
    "check_missing",
    "evaluate",
    "load_rules",
    "validate_rules",
]
