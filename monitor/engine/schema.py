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
    selector = {
        "type": "object",
        "properties": {k: _CODES for k in SELECT_KEYS} | {"exclude": {"$ref": "#/$defs/exclude"}},
        "additionalProperties": False,
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
                },
                "additionalProperties": False,
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
