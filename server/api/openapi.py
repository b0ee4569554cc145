"""OpenAPI 3.1 document built from the route table and its pydantic models."""

from __future__ import annotations

import re
from typing import Any

from server.errors import ERROR_STATUS

from .routing import ROUTES


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def build_openapi(version: str = "0.1.0") -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string", "enum": sorted(ERROR_STATUS)},
                        "message": {"type": "string"},
                        "details": {"type": "object"},
                    },
                }
            },
        }
    }
    for spec in ROUTES:
        op: dict[str, Any] = {
            "summary": spec.summary,
            "operationId": spec.handler.__name__,
            "tags": list(spec.tags),
            "responses": {
                "200": {"description": "success"},
                "default": {
                    "description": "typed error",
                    "content": {"application/json": {"schema": _ref("Error")}},
                },
            },
        }
        params = re.findall(r"{(\w+)}", spec.path)
        if params:
            op["parameters"] = [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                for p in params
            ]
        if spec.auth:
            op["security"] = [{"bearer": []}]
            if spec.roles:
                op["x-roles"] = list(spec.roles)
        if spec.body is not None:
            name = spec.body.__name__
            schemas[name] = spec.body.model_json_schema(ref_template="#/components/schemas/{model}")
            for sub, sub_schema in schemas[name].pop("$defs", {}).items():
                schemas[sub] = sub_schema
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _ref(name)}},
            }
        if spec.raw_body:
            op["requestBody"] = {
                "required": True,
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            }
        if spec.response is not None:
            rname = spec.response.__name__
            schemas[rname] = spec.response.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
            op["responses"]["200"]["content"] = {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{rname}"}}
            }
        paths.setdefault(spec.path, {})[spec.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Relais API", "version": version},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
