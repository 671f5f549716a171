"""The strict YAML loader: duplicate keys, Norway, bad scalars, all located."""

from __future__ import annotations

import pytest

from monitor.errors import ConfigError
from monitor.yamlload import YamlBool, load_yaml


def test_norway_stays_a_code():
    """`partner: NO` is the text NO (Norway), never False."""
    data = load_yaml("partner: NO\n", "p.yaml")
    assert data["partner"] == "NO" and isinstance(data["partner"], YamlBool)


def test_quoted_and_true_booleans_are_unchanged():
    """Only YAML 1.1 spellings are kept as text; true/false stay booleans."""
    data = load_yaml("a: true\nb: 'no'\n", "p.yaml")
    assert data == {"a": True, "b": "no"}


def test_duplicate_key_names_both_lines():
    """A duplicate key is an error at the second, naming the first."""
    with pytest.raises(
        ConfigError,
        match=r"p.yaml:3:1: duplicate key 'a' \(first defined at "
        r"line 1\)",
    ):
        load_yaml("a: 1\nb: 2\na: 3\n", "p.yaml")


def test_impossible_date_is_located_not_a_traceback():
    """An unquoted 2025-13-01 is a located error instead of PyYAML's ValueError."""
    with pytest.raises(ConfigError, match=r"p.yaml:2:8: invalid value '2025-13-01'"):
        load_yaml("a: 1\nuntil: 2025-13-01\n", "p.yaml")


def test_python_tags_are_refused():
    """Only safe YAML: a !!python/object tag is a located error."""
    with pytest.raises(ConfigError, match=r"p.yaml:1:\d+: invalid YAML"):
        load_yaml("a: !!python/object/apply:os.system ['true']\n", "p.yaml")


def test_marks_point_at_keys():
    """Every mapping remembers where each key is."""
    data = load_yaml("rules:\n  - id: x\n    window: 6\n", "p.yaml")
    rule = data["rules"][0]
    assert (rule.where("window").line, rule.where("window").column) == (3, 5)


def test_alias_bomb_is_refused_quickly():
    """Nested aliases that would expand to millions of values are a located error."""
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcdefg", "bcdefgh", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    with pytest.raises(ConfigError, match="document too large"):
        load_yaml("\n".join(lines) + "\n", "p.yaml")
