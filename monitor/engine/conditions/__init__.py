"""One module per condition family; ``EVALUATORS`` maps a condition type to its function, as
each condition's declaration names it (``engine.spec.CONDITIONS``)."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from monitor.engine.conditions.base import Labels, Result, Totals, View
from monitor.engine.rules import Condition
from monitor.engine.spec import CONDITIONS

Evaluator = Callable[[View, Condition], Result]


def _evaluator(target: str) -> Evaluator:
    module, _, name = target.partition(":")
    function: Evaluator = getattr(importlib.import_module(module), name)
    return function


EVALUATORS: dict[str, Evaluator] = {
    name: _evaluator(spec.evaluator) for name, spec in CONDITIONS.items() if spec.evaluator
}

__all__ = ["EVALUATORS", "Evaluator", "Labels", "Result", "Totals", "View"]
