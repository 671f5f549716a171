"""A JSON Schema (draft 2020-12) of the rule pack format, derived from spec.py."""

from __future__ import annotations

from typing import Any

from monitor.engine.spec import (
    COMBINATORS,
    CONDITIONS,
    DEFAULT_SUMMARY,
    SELECT_KEYS,
    SEVERITIES,
    Param,
)

_CODES = {
    "oneOf": [
        {"type": "string", "description": 'a code, or "*" for every value'},
        {"type": "array", "items": {"type": "string"}},
    ]
}
_TEXTS = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
# Sums: commodity codes under a prefix / to a level / from a list, partners of a group.
_COMMODITY = {
    "oneOf": [
        *_CODES["oneOf"],
        {
            "type": "object",
            "description": "sum the codes: under a prefix, each to a level, or a named list",
            "properties": {
                "prefix": _TEXTS,
                "level": {"enum": [2, 4, 6, 8, 10]},
                "codes": {"type": "array", "items": {"type": "string"}},
                "as": {"type": "string"},
            },
            "additionalProperties": False,
        },
    ]
}
_PARTNER = {
    "oneOf": [
        *_CODES["oneOf"],
        {
            "type": "object",
            "description": "sum the members of a partner group (EU27, ASEAN, ...)",
            "properties": {"group": _TEXTS},
            "required": ["group"],
            "additionalProperties": False,
        },
    ]
}
_AGGREGATE = {
    "incomplete": {
        "enum": ["mark", "skip"],
        "description": "a month where an expected member did not report: mark it or skip it",
    },
    "expect_within": {"type": "integer", "minimum": 0, "maximum": 24},
}


def _param(p: Param) -> dict[str, Any]:
    if p.kind == "int":
        out: dict[str, Any] = {"type": "integer"}
    elif p.kind == "number":
        out = {"type": "number"}
    elif p.kind == "quantity":
        out = {
            "oneOf": [
                {"type": "number"},
                {"type": "string", "pattern": r"^\s*[-+]?[\d.,_]+\s*[A-Za-z$€ ]*$"},
            ],
            "examples": ["500 t", "2 million USD", 1500],
        }
    elif p.kind == "percent":
        out = {"oneOf": [{"type": "number"}, {"type": "string", "pattern": r"^[-+]?[\d.]+\s*%$"}]}
    elif p.kind == "enum":
        out = {"enum": list(p.choices)}
    else:
        out = {"type": "string"}
    if p.kind in ("int", "number"):
        if p.minimum is not None:
            out["exclusiveMinimum" if p.exclusive_minimum else "minimum"] = p.minimum
        if p.maximum is not None:
            out["maximum"] = p.maximum
    if p.default is not None:
        out["default"] = p.default
    if p.doc:
        out["description"] = p.doc
    return out


def rule_pack_schema() -> dict[str, Any]:
    """The JSON Schema of a rule pack file, built from ``spec.CONDITIONS`` (what
    ``customs-monitor schema`` prints as ``rule_pack``)."""
    conditions = []
    for name, spec in CONDITIONS.items():
        item: dict[str, Any] = {
            "type": "object",
            "title": name,
            "description": spec.doc,
            "properties": {"type": {"const": name}}
            | {k: _param(p) for k, p in spec.params.items()},
            "required": ["type", *[k for k, p in spec.params.items() if p.required]],
            "additionalProperties": False,
        }
        if spec.one_of:
            item["anyOf"] = [{"required": [k]} for k in spec.one_of]
        conditions.append(item)
    for combo in COMBINATORS:
        conditions.append(
            {
                "type": "object",
                "title": combo,
                "properties": {
                    combo: {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/condition"}}
                },
                "required": [combo],
                "additionalProperties": False,
            }
        )
    keys = {k: _CODES for k in SELECT_KEYS} | {"commodity": _COMMODITY, "partner": _PARTNER}
    selector = {
        "type": "object",
        "properties": keys
        | {"exclude": {"$ref": "#/$defs/exclude"}, "derived": {"type": "string"}},
        "additionalProperties": False,
    }
    member = {
        "oneOf": [
            {"type": "string"},
            {
                "type": "object",
                "properties": {
                    "code": {"type": "string"},
                    "from": {"type": "string", "pattern": r"^\d{4}-\d{2}$"},
                    "until": {"type": "string", "pattern": r"^\d{4}-\d{2}$"},
                },
                "required": ["code"],
                "additionalProperties": False,
            },
        ]
    }
    members = {"type": "array", "items": member, "minItems": 1}
    group = {
        "oneOf": [
            members,
            {
                "type": "object",
                "properties": {"name": {"type": "string"}, "members": members},
                "required": ["members"],
                "additionalProperties": False,
            },
        ]
    }
    exclude = {
        "type": "object",
        "properties": {k: _CODES for k in SELECT_KEYS},
        "additionalProperties": False,
    }
    labels = {"type": "object", "additionalProperties": {"type": "string"}}
    rule = {
        "type": "object",
        "properties": {
            "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"},
            "summary": {
                "type": "string",
                "description": "Jinja template",
                "default": DEFAULT_SUMMARY,
            },
            "description": {"type": "string"},
            "select": {"$ref": "#/$defs/select"},
            "exclude": {"$ref": "#/$defs/exclude"},
            "condition": {"$ref": "#/$defs/condition"},
            "severity": {"enum": list(SEVERITIES)},
            "labels": labels,
            "template": {"type": "string"},
            **_AGGREGATE,
        },
        "required": ["id", "condition"],
        "additionalProperties": False,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "customs-monitor rule pack",
        "type": "object",
        "properties": {
            "pack": {"type": "string"},
            "description": {"type": "string"},
            "defaults": {
                "type": "object",
                "properties": {
                    "select": {"$ref": "#/$defs/select"},
                    "exclude": {"$ref": "#/$defs/exclude"},
                    "severity": {"enum": list(SEVERITIES)},
                    "labels": labels,
                    "template": {"type": "string"},
                    "summary": {"type": "string"},
                    **_AGGREGATE,
                },
                "additionalProperties": False,
            },
            "groups": {"type": "object", "additionalProperties": group},
            "derived": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "properties": {
                        "select": {"$ref": "#/$defs/select"},
                        "exclude": {"$ref": "#/$defs/exclude"},
                        "description": {"type": "string"},
                        **_AGGREGATE,
                    },
                    "required": ["select"],
                    "additionalProperties": False,
                },
            },
            "rules": {"type": "array", "items": {"$ref": "#/$defs/rule"}},
        },
        "required": ["pack", "rules"],
        "additionalProperties": False,
        "$defs": {
            "select": selector,
            "exclude": exclude,
            "condition": {"oneOf": conditions},
            "rule": rule,
        },
    }
