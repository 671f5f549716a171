"""A Jinja sandbox with resource limits: output size, loop size, call depth and render time.

Jinja's own sandbox stops templates from reaching Python internals, but not from exhausting the
process: ``{{ 'x' * 100000000 }}`` builds 100 MB, a recursive macro runs until Python's recursion
limit, nested loops over a long string run for hours. Every render here runs against a
``Budget``; the places a template can make something big or slow are checked against it:

- operators that multiply sizes (``*``, ``**``, ``%``, ``+``) and string concatenation (``~``);
- calls (macros, ``loop()``, methods such as ``ljust``/``replace``/``join``/``format``) count
  towards the call depth, and sizes they would build are checked before the call;
- the filters that can amplify their input (``center``, ``indent``, ``join``, ``replace``,
  ``batch``, ``slice``, ``format``, ``sum``) are checked before they run, every filter's result
  after;
- every ``{% for %}`` iterates through a counter (all loops of a render together), and
  ``range`` is capped;
- the wall clock is checked at each of these points, and the output as it streams.

A limit is reported as ``LimitExceeded`` (a TemplateRuntimeError) naming which limit.
"""

from __future__ import annotations

import contextvars
import functools
import re
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sized
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import TemplateRuntimeError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer


class LimitExceeded(TemplateRuntimeError):
    """A template went past one of the sandbox's resource limits."""


@dataclass(frozen=True)
class Limits:
    """Per render. ``size`` bounds the output and every string or list built on the way."""

    size: int = 1_000_000  # characters (or items)
    iterations: int = 100_000  # loop iterations, all loops of one render together
    range: int = 10_000  # items of one range()
    depth: int = 50  # nested calls (macros calling macros, recursive loops)
    seconds: float = 5.0  # wall-clock time of one render


#: Message templates (a digest of up to 50 alerts in Slack, email, HTML).
MESSAGE_LIMITS = Limits()
#: A rule's one-line summary.
SUMMARY_LIMITS = Limits(size=2_000, iterations=10_000, range=1_000, depth=20, seconds=1.0)


class Budget:
    """What one render may still spend."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.seconds
        self.iterations = 0
        self.depth = 0

    def tick(self) -> None:
        """Raise ``LimitExceeded`` once the render has run past its time limit."""
        if time.monotonic() > self.deadline:
            raise LimitExceeded(f"rendering took longer than {self.limits.seconds:g} s")

    def iterate(self) -> None:
        """Count one loop iteration (all loops of the render together) and check the clock;
        ``LimitExceeded`` past the limit."""
        self.iterations += 1
        if self.iterations > self.limits.iterations:
            raise LimitExceeded(
                f"loops ran more than {self.limits.iterations:,} iterations in one rendering"
            )
        self.tick()

    def enter(self) -> None:
        """One call deeper (pair it with ``leave``); ``LimitExceeded`` past the depth limit."""
        self.depth += 1
        if self.depth > self.limits.depth:
            raise LimitExceeded(
                f"calls nested more than {self.limits.depth} deep (a recursive macro?)"
            )
        self.tick()

    def leave(self) -> None:
        """One call back out, undoing an ``enter``."""
        self.depth -= 1

    def allow(self, size: int, what: str) -> None:
        """Raise ``LimitExceeded`` if something ``size`` long (characters or items) would pass the
        size limit; ``what`` names it in the message."""
        if size > self.limits.size:
            raise LimitExceeded(
                f"{what} would be {size:,} long, more than the limit of {self.limits.size:,}"
            )

    def check(self, value: Any, what: str = "a value") -> Any:
        """``value`` itself, once the length of a string, bytes or container is within the size
        limit (other values are not checked)."""
        if isinstance(value, str | bytes | list | tuple | dict | set | frozenset):
            self.allow(len(value), what)
        return value


_BUDGET: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("budget", default=None)


def current() -> Budget:
    """The running render's budget; outside a render (Jinja folding constants while compiling)
    a fresh default one, so the size checks still hold."""
    return _BUDGET.get() or Budget(MESSAGE_LIMITS)


class budget_for:
    """``with budget_for(limits) as budget:`` the renders inside run against ``budget``."""

    def __init__(self, limits: Limits) -> None:
        self.budget = Budget(limits)
        self._token: contextvars.Token[Budget | None] | None = None

    def __enter__(self) -> Budget:
        self._token = _BUDGET.set(self.budget)
        return self.budget

    def __exit__(self, *exc: object) -> None:
        assert self._token is not None
        _BUDGET.reset(self._token)


def render_stream(chunks: Iterable[str], budget: Budget) -> str:
    """Join a template's output chunks, stopping as soon as it grows past the limit."""
    out: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        budget.allow(size, "the output")
        budget.tick()
        out.append(chunk)
    return "".join(out)


# -- size estimates before something big is built ----------------------------------------------

_FIELD = re.compile(r"\{[^{}]*\}")
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[a-zA-Z%]")
_DIGITS = re.compile(r"\d+")


def _length(value: Any) -> int:
    return len(value) if isinstance(value, Sized) else 0


def _repeat(seq: Any, times: Any, budget: Budget) -> None:
    if isinstance(times, int) and isinstance(seq, str | bytes | list | tuple):
        budget.allow(len(seq) * max(times, 0), "a repeated value")


def _format_widths(fmt: str, budget: Budget, *, percent: bool) -> None:
    """Widths and precisions in a format string (``{:>999999999}``, ``%999999999d``)."""
    if percent:
        for m in _PERCENT_SPEC.finditer(fmt):
            for group in m.groups():
                if group == "*":
                    raise LimitExceeded("'*' widths are not allowed in templates")
                if group:
                    budget.allow(int(group), "a formatted field")
        return
    for field in _FIELD.findall(fmt):
        for digits in _DIGITS.findall(field):
            budget.allow(int(digits), "a formatted field")


def _joined(items: Any, sep: Any, budget: Budget) -> None:
    if isinstance(items, Collection) and not isinstance(items, str):
        n = len(items)
        total = sum(_length(x) for x in items) if n <= budget.limits.size else n
        budget.allow(total + _length(sep) * max(n - 1, 0), "a joined string")


def _replaced(text: Any, old: Any, new: Any, budget: Budget) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        worst = len(text) + (len(text) // max(len(old), 1) + 1) * len(new)
        budget.allow(worst, "a replaced string")


def _ints(args: Iterable[Any], budget: Budget, what: str) -> None:
    for value in args:
        if isinstance(value, int) and not isinstance(value, bool):
            budget.allow(value, what)


_WIDTH_METHODS = {"ljust", "rjust", "center", "zfill", "expandtabs"}


def _precheck_call(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any], budget: Budget) -> None:
    method = getattr(obj, "__wrapped__", obj)  # the sandbox wraps str.format
    owner = getattr(method, "__self__", None)
    name = getattr(method, "__name__", "")
    if not isinstance(owner, str | bytes | list | tuple):
        return
    if name in _WIDTH_METHODS:
        _ints([*args, *kwargs.values()], budget, f"{name}()")
    elif name in ("format", "format_map") and isinstance(owner, str):
        _format_widths(owner, budget, percent=False)
    elif name == "join" and args:
        _joined(args[0], owner, budget)
    elif name == "replace" and len(args) >= 2:
        _replaced(owner, args[0], args[1], budget)
    elif name == "__mul__" and args:
        _repeat(owner, args[0], budget)


# -- filters -----------------------------------------------------------------------------------


def _precheck_filter(
    name: str, args: tuple[Any, ...], kwargs: dict[str, Any], budget: Budget
) -> None:
    value = args[0] if args else None
    rest = [*args[1:], *kwargs.values()]
    if name in ("center", "batch", "slice"):
        _ints(rest, budget, f"the {name} filter's argument")
    elif name == "indent":
        width = kwargs.get("width", args[1] if len(args) > 1 else 4)
        lines = value.count("\n") + 1 if isinstance(value, str) else 1
        step = width if isinstance(width, int) else _length(width)
        budget.allow(_length(value) + lines * max(step, 0), "an indented string")
    elif name == "join":
        sep = kwargs.get("d", args[1] if len(args) > 1 else "")
        _joined(value, sep, budget)
    elif name == "replace" and len(args) >= 3:
        _replaced(value, args[1], args[2], budget)
    elif name == "format" and isinstance(value, str):
        _format_widths(value, budget, percent=True)
    elif name == "sum":
        start = kwargs.get("start", args[2] if len(args) > 2 else 0)
        if isinstance(start, str | list | tuple) and isinstance(value, Collection):
            budget.allow(sum(_length(x) for x in value) + _length(start), "a summed value")


def guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` with the budget checked before (amplifying filters) and after (every filter)."""

    @functools.wraps(func)  # keeps jinja's pass_context/pass_environment marker
    def guarded(*args: Any, **kwargs: Any) -> Any:
        budget = current()
        budget.tick()
        # pass_* filters get the context/environment first: the value comes after it.
        offset = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0
        _precheck_filter(name, args[offset:], kwargs, budget)
        return budget.check(func(*args, **kwargs), f"the result of the {name} filter")

    return guarded


def _guard_iter(iterable: Any) -> Iterator[Any]:
    budget = current()
    for item in iterable:
        budget.iterate()
        yield item


def _guard_size(value: Any) -> Any:
    return current().check(value, "a concatenated string")


def _range(*args: int) -> range:
    budget = current()
    result = range(*args)
    if len(result) > budget.limits.range:
        raise LimitExceeded(
            f"range() of {len(result):,} items, more than the limit of {budget.limits.range:,}"
        )
    return result


class _Guards(NodeTransformer):
    """Route every loop's iterable and every ``~`` through the budget."""

    def __init__(self, environment: Any) -> None:
        self.environment = environment

    def _wrap(self, node: nodes.Node, guard: str) -> nodes.Filter:
        assert isinstance(node, nodes.Expr)  # a loop's iterable and a ``~`` are expressions
        wrapped = nodes.Filter(node, guard, [], [], None, None, lineno=node.lineno)
        wrapped.set_environment(self.environment)
        return wrapped

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = self._wrap(node.iter, "_guard_iter")
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return self._wrap(node, "_guard_size")


class GuardedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox (no ``list.append`` on the values templates are given) plus the
    resource limits of the module docstring. Render with ``budget_for`` around the render."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.globals["range"] = _range
        self.globals.pop("lipsum", None)  # generates unbounded text and has no use in alerts
        self.filters["_guard_iter"] = _guard_iter
        self.filters["_guard_size"] = _guard_size
        self.guard_filters()

    def guard_filters(self) -> None:
        """Wrap every filter not wrapped yet (call again after adding filters)."""
        for name, func in list(self.filters.items()):
            if name.startswith("_guard") or getattr(func, "_guarded", False):
                continue
            guarded = guard_filter(name, func)
            guarded._guarded = True  # type: ignore[attr-defined]
            self.filters[name] = guarded

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        result = _Guards(self).visit(tree)
        assert isinstance(result, nodes.Template)
        return result

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """The ``intercepted_binops``: a repetition's size, a huge integer power and ``%`` widths
        are refused before they are built, every result's size checked after."""
        budget = current()
        budget.tick()
        if operator == "*":
            _repeat(left, right, budget)
            _repeat(right, left, budget)
        elif operator == "**":
            big = isinstance(right, int) and right > 4096
            if big and isinstance(left, int) and abs(left) > 1:
                raise LimitExceeded(f"exponent {right:,} is too large")
        elif operator == "%" and isinstance(left, str):
            _format_widths(left, budget, percent=True)
        return budget.check(super().call_binop(context, operator, left, right), "a result")

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Every call a template makes: counted towards the call depth, the sizes it would build
        checked before it runs, its result's size after."""
        budget = current()
        budget.enter()
        try:
            _precheck_call(__obj, args, kwargs, budget)
            result = super().call(__context, __obj, *args, **kwargs)
        finally:
            budget.leave()
        return budget.check(result, "a call's result")

    def getattr(self, obj: Any, attribute: str) -> Any:
        """The sandbox's attribute lookup (``x.y``), with the clock checked."""
        current().tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        """The sandbox's item lookup (``x[i]``), with the clock checked."""
        current().tick()
        return super().getitem(obj, argument)
