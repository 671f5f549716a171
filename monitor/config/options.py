"""Typed options: the base of every configuration model, shared field types, located problems.

Every section of monitor.yaml (each source, each channel, ``daemon:``, the top level) is a
pydantic model derived from ``Options``: unknown keys are refused, values are converted once
(``"25"`` from an environment variable becomes 25; ``flase`` is refused, never read as false)
and components receive the validated model. ``problems`` turns pydantic's errors into located
``Problem``s (``path:line:column: message``) by walking the located YAML, with "did you mean"
for unknown keys; no message ever repeats a secret or a value read from the environment.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Collection, Mapping
from typing import Annotated, Any, Literal, Self, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    SecretStr,
    ValidationError,
    WithJsonSchema,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError, PydanticKnownError
from pydantic_core.core_schema import ErrorType

from monitor.config_checks import did_you_mean
from monitor.errors import ConfigError, Problem
from monitor.yamlload import LocatedDict, LocatedList, Mark, mark_of

Loc = tuple[str | int, ...]


class Options(BaseModel):
    """Base of every options model: strict keys, immutable once validated, inputs never echoed
    by pydantic's own messages (``problems`` decides what a message may show)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        coerce_numbers_to_str=True,
        hide_input_in_errors=True,
    )

    @classmethod
    def key_problems(cls, data: Mapping[str, Any]) -> list[tuple[str | None, str]]:
        """Checks of which keys are given together (a secret given two ways, ``schedule`` with
        ``calendar``): ``(key to point at or None for the mapping, message)``. They run on the
        raw mapping beside the field checks, so one run reports both."""
        return []

    @classmethod
    def unavailable(cls) -> str | None:
        """Why this type cannot run in this installation (a missing optional package)."""
        return None

    @classmethod
    def parse(cls, data: Self | Mapping[str, Any] | None, *, what: str, where: str = "") -> Self:
        """A validated model from ``data`` (a model is returned as it is); a ConfigError with
        every problem, prefixed by ``what`` (e.g. ``channel 'desk'``), otherwise."""
        if isinstance(data, cls):
            return data
        if isinstance(data, Options):
            raise TypeError(f"{what}: expected {cls.__name__}, got {type(data).__name__}")
        found = check(cls, data if data is not None else {}, where or "<config>", what=what)
        if found:
            raise ConfigError(found)
        return cls.model_validate(data if data is not None else {})


# -- field types ------------------------------------------------------------------------------


def _not_bool(kind: ErrorType) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        # pydantic reads true as 1; a boolean where a number belongs is a mistake.
        if isinstance(value, bool):
            raise PydanticKnownError(kind)
        return value

    return check


#: after the constraints (``Annotated[int, Field(ge=1), INT]``): placed before them, the JSON
#: Schema would lose the bounds
INT = BeforeValidator(_not_bool("int_type"))
FLOAT = BeforeValidator(_not_bool("float_type"))


def _items(value: Any) -> list[Any]:
    """A scalar or a list; text is split at commas (``"X,M"``, ``"slack, email"``)."""
    listed = list(value) if isinstance(value, list | tuple) else [value]
    out: list[Any] = []
    for item in listed:
        if isinstance(item, str):
            out.extend(part.strip() for part in item.split(",") if part.strip())
        else:
            out.append(item)
    return out


def _codes(value: Any) -> list[str]:
    items = _items(value)
    if any(isinstance(v, bool) or not isinstance(v, str | int) for v in items):
        raise PydanticCustomError(
            "option", "must be a code or a list of codes (text or whole numbers)"
        )
    if not items:
        raise PydanticCustomError("option", "must name at least one code")
    return [str(v) for v in items]


def _code(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise PydanticCustomError("option", "must be a code (text or a whole number)")
    if not str(value).strip():
        raise PydanticCustomError("option", "must not be empty")
    return str(value).strip()


_CODE_SCHEMA: dict[str, Any] = {"anyOf": [{"type": "string"}, {"type": "integer"}]}

#: one code or several (a list, or text with commas), each text or a whole number: ``156``,
#: ``"0,842"``, ``[DE, FR]``; read as a list of text
Codes = Annotated[
    list[str],
    BeforeValidator(_codes),
    WithJsonSchema({"anyOf": [*_CODE_SCHEMA["anyOf"], {"type": "array", "items": _CODE_SCHEMA}]}),
]
#: one code, text or a whole number (``"850511"``, ``850511``); read as text
Code = Annotated[str, BeforeValidator(_code), WithJsonSchema(_CODE_SCHEMA)]


def text_list_schema(items: dict[str, Any]) -> WithJsonSchema:
    """The JSON Schema of a ``TEXT_LIST`` field: one ``items`` value or a list of them."""
    return WithJsonSchema({"anyOf": [items, {"type": "array", "items": items}]})


#: text or a list of text; text is split at commas
TEXT_LIST = BeforeValidator(_items)


# -- secrets ----------------------------------------------------------------------------------


def secret_keys(name: str) -> tuple[str, str, str]:
    """The keys a secret may be given under: ``name`` (``${VAR}`` resolved by the config
    loader), ``name_file`` (a file's first line: systemd credentials) or ``name_env``."""
    return name, f"{name}_file", f"{name}_env"


def secret_problems(
    data: Mapping[str, Any], name: str, *, required: bool
) -> list[tuple[str | None, str]]:
    """A required secret given no way, or any secret given more than one way."""
    given = [k for k in secret_keys(name) if data.get(k)]
    if not given and required:
        return [(None, f"missing {name} (or {name}_file / {name}_env)")]
    if len(given) > 1:
        return [(given[1], f"give {name} one way only (found {', '.join(given)})")]
    return []


# -- located problems -------------------------------------------------------------------------

#: how a pydantic error type reads after the option's name
_PHRASES = {
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be text",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "date_type": "must be a date (YYYY-MM-DD)",
    "date_parsing": "must be a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "must be a date (YYYY-MM-DD)",
    "date_from_datetime_inexact": "must be a date (YYYY-MM-DD)",
    "string_too_short": "must not be empty",
}
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")


def _unwrap(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _members(annotation: Any) -> list[Any]:
    annotation = _unwrap(annotation)
    if get_origin(annotation) in (Union, types.UnionType):
        return [_unwrap(a) for a in get_args(annotation) if a is not type(None)]
    return [annotation]


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _tag_of(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("type")
    if field is not None and get_origin(field.annotation) is Literal:
        args = get_args(field.annotation)
        return str(args[0]) if len(args) == 1 else None
    return None


def registry(annotation: Any) -> dict[str, Any]:
    """``type`` value -> model of a discriminated union of models (sources, channels)."""
    return {t: m for m in _members(annotation) if _is_model(m) and (t := _tag_of(m)) is not None}


def tags(annotation: Any) -> list[str]:
    """The ``type`` values of a discriminated union of models, in order."""
    return list(registry(annotation))


def _field(model: type[BaseModel], key: str) -> FieldInfo | None:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info
    return None


def _contains_secret(annotation: Any) -> bool:
    annotation = _unwrap(annotation)
    if annotation is SecretStr:
        return True
    return any(_contains_secret(a) for a in get_args(annotation))


class _Walk:
    """One error's location followed through the model and the located YAML together."""

    def __init__(self, model: type[BaseModel], raw: Any, loc: Loc, where: str) -> None:
        self.loc: list[str | int] = []  # without the union tags pydantic inserts
        self.parent_model: type[BaseModel] | None = None  # the model of the innermost mapping
        self.annotation: Any = model
        self.secret = False
        self.node: Any = raw
        self.parent: Any = None
        self.mark = mark_of(raw, where)
        parts = list(loc)
        while parts:
            part = parts.pop(0)
            members = _members(self.annotation)
            models = [m for m in members if _is_model(m)]
            if len(models) > 1:  # a discriminated union: pydantic names the tag in the location
                chosen = [m for m in models if _tag_of(m) == part]
                if chosen:
                    self.annotation = chosen[0]
                    continue
            current = models[0] if len(models) == 1 else None
            container = next((m for m in members if get_origin(m) in (list, tuple, dict)), None)
            if current is not None and isinstance(part, str):
                self.parent_model = current
                info = _field(current, part)
                self.annotation = info.annotation if info is not None else None
                self.secret = self.secret or (
                    info is not None and _contains_secret(info.annotation)
                )
            elif container is not None:
                args = get_args(container)
                self.annotation = args[-1] if get_origin(container) is dict else args[0]
            else:
                self.annotation = None
            self.loc.append(part)
            self._descend(part)

    def _descend(self, part: str | int) -> None:
        node = self.node
        self.parent = node
        if isinstance(node, dict) and str(part) in node:
            key = str(part)
            self.mark = node.value_where(key) if isinstance(node, LocatedDict) else self.mark
            self.node = node[key]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            if isinstance(node, LocatedList):
                self.mark = node.item_marks[part]
            self.node = node[part]
        else:
            self.node = None

    def key_mark(self) -> Mark:
        """Where the last key of the location is written (an unknown key)."""
        if isinstance(self.parent, LocatedDict) and self.loc:
            return self.parent.where(str(self.loc[-1]))
        return self.mark

    def mapping_mark(self) -> Mark:
        """Where the mapping that should hold the last key starts (a missing key)."""
        return getattr(self.parent, "mark", self.mark)


def _dotted(parts: Collection[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _join(*parts: str) -> str:
    return ": ".join(p for p in parts if p)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


Subject = Callable[[Loc], tuple[str, Loc]]


def _plain(loc: Loc) -> tuple[str, Loc]:
    return "", loc


def problems(
    exc: ValidationError,
    model: type[BaseModel],
    raw: Any,
    where: str,
    *,
    subject: Subject = _plain,
    hidden: Collection[Loc] = (),
    quiet: Collection[Loc] = (),
) -> list[Problem]:
    """Located problems from a validation of ``raw`` (the located YAML) against ``model``.

    ``subject`` splits a location into who it is about (``source 'x'``) and the option path;
    errors at or under a location in ``hidden`` are dropped (an unset ``${VAR}`` is reported
    once, by the loader); values at or under ``quiet`` (read from the environment) and secrets
    are never shown.
    """
    out: list[Problem] = []
    for err in exc.errors():
        walk = _Walk(model, raw, tuple(err["loc"]), where)
        loc = tuple(walk.loc)
        if any(loc[: len(h)] == tuple(h) for h in hidden):
            continue
        show = not walk.secret and not any(loc[: len(q)] == tuple(q) for q in quiet)
        who, rest = subject(loc)
        kind, ctx = err["type"], err.get("ctx") or {}
        got = f", got {_shown(err['input'])}" if show else ""
        mark = walk.mark
        if kind == "extra_forbidden":
            key = str(rest[-1]) if rest else str(loc[-1])
            allowed = (
                [info.alias or name for name, info in walk.parent_model.model_fields.items()]
                if walk.parent_model is not None
                else []
            )
            message = _join(
                who, _dotted(rest[:-1]), f"unknown key {key!r}{did_you_mean(key, allowed)}"
            )
            mark = walk.key_mark()
        elif kind == "missing":
            key = str(rest[-1]) if rest else str(loc[-1])
            message = _join(who, _dotted(rest[:-1]), f"missing required key {key!r}")
            mark = walk.mapping_mark()
        elif kind in ("union_tag_invalid", "union_tag_not_found"):
            known = tags(walk.annotation) or _QUOTED.findall(str(ctx.get("expected_tags", "")))
            choices = f"one of {', '.join(sorted(known))}"
            node = walk.node
            if kind == "union_tag_not_found":
                message = _join(who, _dotted(rest), f"missing required key 'type' ({choices})")
            else:
                tag = str(ctx.get("tag", ""))
                message = _join(
                    who,
                    _dotted(rest),
                    f"unknown type {tag!r}{did_you_mean(tag, known)} ({choices})",
                )
                if isinstance(node, LocatedDict) and "type" in node:
                    mark = node.value_where("type")
        else:
            phrase = _phrase(kind, ctx, err["msg"])
            subject_text = _join(who, _dotted(rest))
            if kind == "sentence":  # a whole statement about the mapping (a model check)
                message = _join(subject_text, phrase)
            elif kind == "option_value":  # "schedule '0 9 * *' is not valid: ..."
                shown = f" {_shown(err['input'])}" if show else ""
                message = f"{subject_text}{shown} {phrase}".strip()
            else:
                hint = _hint(kind, ctx, err["input"]) if show else ""
                message = f"{subject_text} {phrase}{got}{hint}".strip()
        out.append(Problem(mark.path or where, mark.line, mark.column, message))
    return out


def _bound(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def _phrase(kind: str, ctx: dict[str, Any], msg: str) -> str:
    if kind in _PHRASES:
        return _PHRASES[kind]
    if kind == "literal_error":
        return f"must be one of {', '.join(_QUOTED.findall(str(ctx.get('expected', ''))))}"
    if kind == "greater_than":
        return f"must be greater than {_bound(ctx['gt'])}"
    if kind == "greater_than_equal":
        return f"must be at least {_bound(ctx['ge'])}"
    if kind == "less_than":
        return f"must be less than {_bound(ctx['lt'])}"
    if kind == "less_than_equal":
        return f"must be at most {_bound(ctx['le'])}"
    if kind == "too_short":
        n = ctx.get("min_length", 1)
        return f"must list at least {n} item{'s' if n != 1 else ''}"
    if kind in ("option", "option_value", "sentence"):
        return msg
    return msg[:1].lower() + msg[1:]


def _hint(kind: str, ctx: dict[str, Any], value: Any) -> str:
    """ "did you mean" for a value that is close to one of the choices."""
    if kind != "literal_error" or not isinstance(value, str):
        return ""
    return did_you_mean(value, _QUOTED.findall(str(ctx.get("expected", ""))))


def check(
    model: type[Options],
    data: Mapping[str, Any],
    where: str,
    *,
    what: str = "",
    hidden: Collection[Loc] = (),
    quiet: Collection[Loc] = (),
) -> list[Problem]:
    """Every problem of ``data`` as ``model``: field checks and key checks, located when
    ``data`` is the located YAML. ``what`` names the subject (``channel 'desk'``)."""
    found = []
    try:
        model.model_validate(data)
    except ValidationError as exc:
        found = problems(
            exc, model, data, where, subject=lambda loc: (what, loc), hidden=hidden, quiet=quiet
        )
    if isinstance(data, Mapping):
        found += key_problems_of(model, data, where, what)
    return found


def key_problems_of(
    model: type[Options], data: Mapping[str, Any], where: str, what: str
) -> list[Problem]:
    """``model.key_problems`` of the raw mapping as located problems prefixed by ``what``: at
    the key's value, at the mapping for None, or at ``where`` when ``data`` is not located."""
    out = []
    for key, message in model.key_problems(data):
        if isinstance(data, LocatedDict):
            mark = data.value_where(key) if key is not None else data.mark
        else:
            mark = Mark(where, 0, 0)
        out.append(Problem(mark.path or where, mark.line, mark.column, _join(what, message)))
    return out


__all__ = [
    "FLOAT",
    "INT",
    "TEXT_LIST",
    "Code",
    "Codes",
    "Loc",
    "Options",
    "check",
    "key_problems_of",
    "problems",
    "registry",
    "secret_keys",
    "secret_problems",
    "tags",
]
