"""`causalc schema`: a draft-07 JSON Schema of the spec format, derived from the spec reader's own field tables."""

from __future__ import annotations

import json

from convert import spec as s

DESCRIPTIONS = {
    "type": "Layer type (Keras class name).",
    "name": "Unique layer name; the practice layer and its weights carry it.",
    "inputs": "Layer name(s) this layer takes, or `input`; default: the layer above.",
    "filters": "Output channels.",
    "units": "Output channels.",
    "kernel_size": "Kernel width in positions of the layer's input.",
    "strides": "Per-step stride; in practice it becomes a dilation of every later layer.",
    "dilation_rate": "Per-step dilation; may be combined with strides.",
    "padding": "Per-step layers are unpadded: only 'valid' is allowed ('same' cannot be compiled; "
               "causalc adds causal padding in practice).",
    "activation": "Keras activation name.",
    "use_bias": "Whether the layer adds a bias.",
    "pool_size": "Pool width in positions of the layer's input.",
    "axis": "Concatenation axis: channels (-1).",
    "channels": "Channels of each input time step.",
    "window": "Steps the per-step network sees; inferred (the smallest that fits) when absent.",
    "output": "Name of the output layer; default: the last layer.",
}


def _field(reader, default) -> dict:
    if getattr(reader, "limit", None):
        integer = {"type": "integer", "minimum": 1, "maximum": reader.limit}
        out = {"anyOf": [integer, {"type": "array", "items": integer, "minItems": 1, "maxItems": 1}]} \
            if reader.allow_list else integer
    else:
        out = {
            s._string: {"type": "string"},
            s._boolean: {"type": "boolean"},
            s._activation: {"enum": [*s.ACTIVATIONS, None]},
            s._padding: {"enum": ["valid"]},
            s._axis: {"enum": [-1, 2]},
            s._inputs: {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]},
        }[reader]
    out = dict(out)
    if default not in (None, ...):
        out["default"] = default
    return out


def _object(fields: dict, description: str, extra: dict | None = None) -> dict:
    properties = {}
    for key, (reader, default) in fields.items():
        properties[key] = {"description": DESCRIPTIONS.get(key, key), **_field(reader, default)}
    properties.update(extra or {})
    required = [key for key, (_, default) in fields.items() if default is ...]
    return {"type": "object", "description": description, "properties": properties, "required": required,
            "additionalProperties": False}


def _layer(type_name: str) -> dict:
    names = [type_name] + [alias for alias, target in s.TYPE_ALIASES.items() if target == type_name]
    schema = _object({**s.COMMON_FIELDS, **s.FIELDS[type_name]}, f"A per-step {type_name} layer.",
                     {"type": {"description": DESCRIPTIONS["type"], "enum": names}})
    schema["required"] = ["type", *schema["required"]]
    if type_name in s.POOLS:
        schema["properties"]["strides"]["description"] += " Default: pool_size."
    return schema


def spec_schema() -> dict:
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "causalc per-step network spec",
        "type": "object",
        "additionalProperties": False,
        "required": ["input", "layers"],
        "properties": {
            "name": {"type": "string", "description": "Model name and output file stem; default: the file's stem."},
            "input": _object(s.INPUT_FIELDS, "The model input."),
            "layers": {"type": "array", "minItems": 1, "description": "The per-step layers, in order.",
                       "items": {"oneOf": [{"$ref": f"#/definitions/{t}"} for t in s.FIELDS]}},
            "output": {"type": "string", "description": DESCRIPTIONS["output"]},
        },
        "definitions": {t: _layer(t) for t in s.FIELDS},
    }


def schema_json() -> str:
    return json.dumps(spec_schema(), indent=2) + "\n"
