"""A strict, located YAML loader shared by monitor.yaml and rule packs.

PyYAML's safe loader silently lets a duplicate key overwrite the first and reads ``NO`` (Norway)
as False. This loader reports both as located problems and keeps every mapping's and scalar's
source position so validation can say ``path:line:column: what is wrong``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from monitor.errors import ConfigError, Problem

# YAML 1.1 spellings PyYAML turns into booleans; in trade data they are usually codes (NO = Norway,
# Y/N flags) so we keep the original text and let the schema decide.
_YAML11_BOOLS = {"y", "yes", "n", "no", "on", "off"}


@dataclass(frozen=True)
class Mark:
    """A place in a YAML file; line and column 0 when not read from one (a default, code)."""

    path: str
    line: int  # 1-based
    column: int  # 1-based


class LocatedDict(dict):
    """A dict that remembers where it and each of its keys and values came from."""

    mark: Mark
    key_marks: dict[str, Mark]
    value_marks: dict[str, Mark]

    def __init__(self, *args: Any, mark: Mark | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A dict made in code (an implicit empty `defaults:`) has no place in a file.
        self.mark = mark or Mark("", 0, 0)
        self.key_marks = {}
        self.value_marks = {}

    def where(self, key: str | None = None) -> Mark:
        """Where ``key`` is written; the mapping's own place for None or a key not from YAML."""
        if key is not None:
            return self.key_marks.get(key, self.mark)
        return self.mark

    def value_where(self, key: str) -> Mark:
        """Where ``key``'s value is written, else where the key is (see ``where``)."""
        return self.value_marks.get(key, self.where(key))


class LocatedList(list):
    """A list that remembers where it and each of its items came from (``item_marks``)."""

    mark: Mark
    item_marks: list[Mark]


class YamlBool(str):
    """A scalar such as ``NO`` that YAML 1.1 would read as a boolean; kept as its text.

    ``bool(YamlBool('NO'))`` is truthy like any string; an options model that expects a boolean
    reads the spelling (``no`` is false); schemas that expect a code accept the text (``NO`` is
    Norway).
    """


def _mark(path: str, node: yaml.Node) -> Mark:
    return Mark(path, node.start_mark.line + 1, node.start_mark.column + 1)


class _Loader(yaml.SafeLoader):
    nodes_built = 0


_PLAIN_TAGS: dict[type[yaml.Node], str] = {
    yaml.MappingNode: "tag:yaml.org,2002:map",
    yaml.SequenceNode: "tag:yaml.org,2002:seq",
}


# Aliases are expanded into separate objects (so marks stay right); a "billion laughs" document
# of nested aliases would expand without bound, so the number of nodes built is capped.
MAX_NODES = 200_000


class _TooLarge(Exception):
    pass


def _construct(loader: _Loader, node: yaml.Node, path: str, problems: list[Problem]) -> Any:
    loader.nodes_built += 1
    if loader.nodes_built > MAX_NODES:
        raise _TooLarge
    expected = _PLAIN_TAGS.get(type(node))
    if expected is not None and node.tag != expected:
        # Only plain YAML: tags such as !!python/object are refused, not silently ignored.
        m = _mark(path, node)
        problems.append(
            Problem(path, m.line, m.column, f"invalid YAML: unsupported tag {node.tag!r}")
        )
        return None
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out = LocatedDict()
        out.mark = _mark(path, node)
        out.key_marks, out.value_marks = {}, {}
        for key_node, value_node in node.value:
            key = _construct(loader, key_node, path, problems)
            if isinstance(key, list | dict):
                m = _mark(path, key_node)
                problems.append(Problem(path, m.line, m.column, "a mapping key must be a scalar"))
                continue
            if not isinstance(key, str):
                key = str(key)
            if key in out:
                m, first = _mark(path, key_node), out.key_marks[key]
                problems.append(
                    Problem(
                        path,
                        m.line,
                        m.column,
                        f"duplicate key {key!r} (first defined at line "
                        f"{first.line}); YAML would silently keep only the last",
                    )
                )
                continue
            out[key] = _construct(loader, value_node, path, problems)
            out.key_marks[key] = _mark(path, key_node)
            out.value_marks[key] = _mark(path, value_node)
        return out
    if isinstance(node, yaml.SequenceNode):
        seq = LocatedList(_construct(loader, n, path, problems) for n in node.value)
        seq.mark = _mark(path, node)
        seq.item_marks = [_mark(path, n) for n in node.value]
        return seq
    assert isinstance(node, yaml.ScalarNode)
    if (
        node.tag == "tag:yaml.org,2002:bool"
        and node.style is None
        and node.value.lower() in _YAML11_BOOLS
    ):
        return YamlBool(node.value)
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:  # an unknown !tag on a scalar
        m = _mark(path, node)
        reason = getattr(exc, "problem", None) or str(exc)
        problems.append(Problem(path, m.line, m.column, f"invalid YAML: {reason}"))
        return None
    except (ValueError, TypeError, OverflowError) as exc:
        # PyYAML's constructors raise these for scalars that look typed but are not, such as
        # an unquoted 2025-13-01 "date".
        m = _mark(path, node)
        problems.append(
            Problem(
                path,
                m.line,
                m.column,
                f"invalid value {node.value!r}: {exc} (quote it if it is text)",
            )
        )
        return node.value


def load_yaml(text: str, path: str, *, problems: list[Problem] | None = None) -> Any:
    """Parse YAML text; raise ConfigError with every located problem found.

    With ``problems``, problems that leave a usable document (a duplicate key: the first is
    kept; an unsupported tag: null) are appended there and the document is returned, so a
    caller can check the rest of it in the same run; a syntax error still raises."""
    collect = problems is not None
    problems = problems if problems is not None else []
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        msg = " ".join(filter(None, [exc.context, exc.problem])) or "invalid YAML"
        raise ConfigError(Problem(path, line, col, f"invalid YAML: {msg}")) from None
    except yaml.YAMLError as exc:
        raise ConfigError(Problem(path, 0, 0, f"invalid YAML: {exc}")) from None
    if node is None:
        return None
    loader = _Loader("")
    try:
        data = _construct(loader, node, path, problems)
    except _TooLarge:
        raise ConfigError(
            Problem(
                path,
                1,
                1,
                f"document too large: more than {MAX_NODES:,} values once aliases are expanded",
            )
        ) from None
    except yaml.YAMLError as exc:  # e.g. an unknown !tag
        m = _mark(path, node)
        raise ConfigError(Problem(path, m.line, m.column, f"invalid YAML: {exc}")) from None
    if problems and not collect:
        raise ConfigError(problems)
    return data


def load_yaml_file(path: str, *, problems: list[Problem] | None = None) -> Any:
    """``load_yaml`` of a UTF-8 file; a file that cannot be read or decoded is a ConfigError.

    An empty document is None."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ConfigError(Problem(str(path), 0, 0, f"cannot read: {exc.strerror}")) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(Problem(str(path), 0, 0, f"not UTF-8 text: {exc.reason}")) from None
    return load_yaml(text, str(path), problems=problems)


def mark_of(obj: Any, path: str, *, line: int = 0, column: int = 0) -> Mark:
    """Where ``obj`` was written in its YAML file; ``path:line:column`` as given when it was
    not read from YAML (a default, a value built in code)."""
    mark: Mark = getattr(obj, "mark", None) or Mark(path, line, column)
    return mark
