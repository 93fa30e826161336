"""Validation of replies against GoPro's OpenAPI spec.

The spec types media-list and media-info values by meaning (integers) and says that "each property
actually comes as a string". For those schemas, digit strings are read as integers before validation;
everywhere else values must have exactly the spec's types.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from jsonschema import Draft7Validator


def deref(spec: dict[str, Any], node: Any) -> Any:
    """`node` with every local $ref replaced by what it points to."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = spec
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            return deref(spec, target)
        return {k: deref(spec, v) for k, v in node.items()}
    if isinstance(node, list):
        return [deref(spec, v) for v in node]
    return node


def response_schema(spec: dict[str, Any], path: str, status: int = 200) -> dict[str, Any]:
    response = deref(spec, spec["paths"][path]["get"]["responses"][str(status)])
    return copy.deepcopy(response["content"]["application/json"]["schema"])


def supported_cameras(spec: dict[str, Any], path: str) -> list[str]:
    return spec["paths"][path]["get"].get("x-supported-cameras", [])


def read_strings_as_numbers(instance: Any, schema: dict[str, Any]) -> Any:
    if "anyOf" in schema:
        for option in schema["anyOf"]:
            candidate = read_strings_as_numbers(instance, option)
            if Draft7Validator(option).is_valid(candidate):
                return candidate
        return instance
    kind = schema.get("type")
    if kind == "integer" and isinstance(instance, str) and re.fullmatch(r"-?\d+", instance):
        return int(instance)
    if isinstance(instance, dict) and "properties" in schema:
        props = schema["properties"]
        return {k: read_strings_as_numbers(v, props[k]) if k in props else v for k, v in instance.items()}
    if isinstance(instance, list) and "items" in schema:
        return [read_strings_as_numbers(v, schema["items"]) for v in instance]
    return instance


def errors(instance: Any, schema: dict[str, Any], *, strings_as_numbers: bool = False) -> list[str]:
    if strings_as_numbers:
        instance = read_strings_as_numbers(instance, schema)
    found = Draft7Validator(schema).iter_errors(instance)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in found]
