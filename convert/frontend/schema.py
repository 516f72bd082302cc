"""`causalc schema`: a draft-07 JSON Schema of the spec format, derived from the kinds' own field tables."""

from __future__ import annotations

import json

from convert import kinds
from convert.frontend.spec import _TOP
from convert.kinds import input as input_kind


def _object(fields: dict, description: str, extra: dict | None = None) -> dict:
    properties = {}
    for key, field in fields.items():
        properties[key] = {"description": field.description, **field.reader.schema}
        if field.default not in (None, ...) and not callable(field.default):
            properties[key]["default"] = field.default
    properties.update(extra or {})
    required = [key for key, field in fields.items() if field.default is ...]
    return {"type": "object", "description": description, "properties": properties, "required": required,
            "additionalProperties": False}


def _layer(kind: kinds.Kind) -> dict:
    schema = _object(kind.fields, f"A per-step {kind.type} layer.",
                     {"type": {"description": kind.fields["type"].description, "enum": [kind.type, *kind.aliases]}})
    schema["required"] = ["type", *schema["required"]]
    return schema


def spec_schema() -> dict:
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "causalc per-step network spec",
        "type": "object",
        "additionalProperties": False,
        "required": ["layers"],
        "oneOf": [{"required": ["input"]}, {"required": ["inputs"]}],
        "properties": {
            "name": {"type": "string", "description": _TOP["name"].description},
            "input": _object(input_kind.FIELDS, _TOP["input"].description),
            "inputs": {"type": "array", "minItems": 1, "description": _TOP["inputs"].description,
                       "items": _object(input_kind.LIST_FIELDS, "A named model input.")},
            "layers": {"type": "array", "minItems": 1, "description": _TOP["layers"].description,
                       "items": {"oneOf": [{"$ref": f"#/definitions/{t}"} for t in kinds.KINDS]}},
            "output": {"type": "string", "description": _TOP["output"].description},
            "same_padding": {"description": _TOP["same_padding"].description, **_TOP["same_padding"].reader.schema},
        },
        # without `same_padding: exact`, layers are unpadded: 'valid' only, and no ZeroPadding1D
        "if": {"not": {"required": ["same_padding"]}},
        "then": {"properties": {"layers": {"items": {
            "properties": {"padding": {"const": "valid"}},
            "not": {"properties": {"type": {"const": "ZeroPadding1D"}}, "required": ["type"]}}}}},
        "definitions": {t: _layer(kind) for t, kind in kinds.KINDS.items()},
    }


def schema_json() -> str:
    return json.dumps(spec_schema(), indent=2) + "\n"
