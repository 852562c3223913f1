"""The native API's OpenAPI document says what the server really answers: the error responses of
every operation (one `Error` component, the body `core.exception_handler` writes) and the real
patterns of its path parameters (Django's URL converters)."""

from __future__ import annotations

import re

# The bodies api_exception_handler writes: {"detail": reason}, or DRF's validation errors,
# {field: [reason, ...]} (nested as the input is, e.g. {"spec": {"groups": [{...}]}}).
ERROR = {
    "type": "object",
    "description": "`detail` says why; a refused input names each field with its reasons instead.",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": True,
}

WHY = {
    "400": "The input is not valid: each field named with its reasons, or `detail`.",
    "401": "No valid `Authorization: Bearer <token>`.",
    "403": "Your role in the project (or on the platform) does not allow this.",
    "404": "Not found, or in a project you are not a member of.",
    "409": "It already exists, or its state does not allow this now.",
    "413": "The request body is larger than the platform accepts.",
    "429": "A quota or limit is used up.",
}
READ = ("400", "401", "403", "404")
WRITE = (*READ, "409", "413", "429")

# str: anything but '/'; int and uuid come with their type and format.
PATH_PATTERN = "^[^/]+$"
# drf-spectacular's pattern of a DecimalField, `^-?\d{0,5}(?:\.\d{0,3})?$`, also matches "", "-"
# and ".", which DRF refuses ("A valid number is required."): this one needs a digit.
SPECTACULAR_DECIMAL = re.compile(r"^\^-\?\\d\{0,(\d+)\}\(\?:\\\.\\d\{0,(\d+)\}\)\?\$\Z")


def truthful_errors(result: dict, **kwargs) -> dict:
    """drf-spectacular postprocessing hook: adds the shared `Error` component, declares it for the
    error statuses every operation can answer (by method), and gives string path parameters the
    pattern of Django's `str` converter."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for code in READ if method == "get" else WRITE:
                operation["responses"].setdefault(code, {"description": WHY[code], "content": ref})
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                if (
                    parameter.get("in") == "path"
                    and schema.get("type") == "string"
                    and "format" not in schema
                ):
                    schema.setdefault("pattern", PATH_PATTERN)
    for schema in result["components"]["schemas"].values():
        for field in schema.get("properties", {}).values():
            decimal = SPECTACULAR_DECIMAL.match(field.get("pattern", ""))
            if decimal:
                whole, fraction = decimal.groups()
                field["pattern"] = rf"^-?(?:\d{{1,{whole}}}(?:\.\d{{0,{fraction}}})?|\.\d{{1,{fraction}}})$"
    return result
