"""The OpenAPI 3.1 document of the API (``GET /api/v1/openapi.json``)."""

from __future__ import annotations

from typing import Any

from portledger import __version__


def _error() -> dict[str, Any]:
    return {"description": "an error", "content": {"application/json": {"schema": {
        "$ref": "#/components/schemas/Error"}}}}


def _ok(description: str, ref: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {
        "$ref": f"#/components/schemas/{ref}"}}}}


def document() -> dict[str, Any]:
    port_param = {"name": "port", "in": "path", "required": True,
                  "description": "a port number, optionally with /udp or /sctp (URL-encoded)",
                  "schema": {"type": "string"}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "portledger serve", "version": __version__,
                 "description": "The ledger of host ports and what holds them on this host "
                                "now; allocation proposals, written with --write."},
        "paths": {
            "/api/v1/ports": {"get": {
                "summary": "Every ledger port with its live state",
                "responses": {"200": _ok("the ports", "Ports"), "503": _error()}}},
            "/api/v1/ports/{port}": {"get": {
                "summary": "One port: the ledger's owners, its range, its live state",
                "parameters": [port_param],
                "responses": {"200": _ok("the port", "Port"), "400": _error(),
                              "503": _error()}}},
            "/api/v1/services/{name}": {"get": {
                "summary": "One ledger service and its ports' live state",
                "parameters": [{"name": "name", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "responses": {"200": _ok("the service", "Service"), "404": _error(),
                              "503": _error()}}},
            "/api/v1/allocations": {"post": {
                "summary": "Propose ports for a service (written to the ledger only when "
                           "the server runs with --write; then a bearer token is needed)",
                "security": [{}, {"bearer": []}],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/AllocationRequest"}}}},
                "responses": {"200": _ok("the proposal (not written)", "Allocation"),
                              "201": _ok("written to the ledger", "Allocation"),
                              "400": _error(), "401": _error(), "409": _error(),
                              "411": _error(), "413": _error(), "415": _error()}}},
            "/metrics": {"get": {"summary": "Prometheus metrics of the last probe",
                                 "responses": {"200": {"description": "the exposition "
                                                                      "format"}}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {
                    "error": {"type": "object", "required": ["status", "message"],
                              "properties": {"status": {"type": "integer"},
                                             "message": {"type": "string"},
                                             "field": {"type": ["string", "null"]},
                                             "holder": {}}}}},
                "PortState": {"type": "object", "required": ["service", "name", "port",
                                                             "protocol", "live"],
                              "properties": {"service": {"type": "string"},
                                             "name": {"type": "string"},
                                             "port": {"type": "string"},
                                             "start": {"type": "integer"},
                                             "end": {"type": "integer"},
                                             "protocol": {"enum": ["tcp", "udp", "sctp"]},
                                             "live": {"type": "object"}}},
                "Ports": {"type": "object", "properties": {
                    "probe": {"type": "object"},
                    "ports": {"type": "array",
                              "items": {"$ref": "#/components/schemas/PortState"}}}},
                "Port": {"type": "object", "properties": {
                    "port": {"type": "integer"}, "protocol": {"type": "string"},
                    "owners": {"type": "array"}, "range": {},
                    "allocatable": {"type": "boolean"},
                    "live": {"type": "array",
                             "items": {"$ref": "#/components/schemas/PortState"}}}},
                "Service": {"type": "object", "properties": {
                    "service": {"type": "string"}, "category": {"type": "string"},
                    "ports": {"type": "array",
                              "items": {"$ref": "#/components/schemas/PortState"}}}},
                "AllocationRequest": {"type": "object", "required": ["service", "category"],
                                      "additionalProperties": False, "properties": {
                    "service": {"type": "string"}, "category": {"type": "string"},
                    "count": {"type": "integer", "minimum": 1, "maximum": 1024,
                              "default": 1},
                    "protocol": {"enum": ["tcp", "udp", "sctp"], "default": "tcp"},
                    "name": {"type": "string", "default": "http"},
                    "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                    "target": {"type": "integer", "minimum": 1, "maximum": 65535},
                    "host": {"type": "string"}}},
                "Allocation": {"type": "object", "required": ["service", "ports", "diff",
                                                              "written"], "properties": {
                    "service": {"type": "string"}, "category": {"type": "string"},
                    "ports": {"type": "array", "items": {"type": "object", "properties": {
                        "name": {"type": "string"}, "port": {"type": "integer"},
                        "protocol": {"type": "string"}}}},
                    "diff": {"type": "string"}, "written": {"type": "boolean"}}},
            },
        },
    }
