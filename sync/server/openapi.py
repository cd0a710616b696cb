"""The server's OpenAPI 3.0 description (served at ``/openapi.json``).

Written out by hand so that every request body and parameter has a schema that
the server really enforces; schemathesis tests the server against it.
"""

from __future__ import annotations

from typing import Any

from sync.protocol import MAX_BATCH_RECORDS
from sync.server import authz

_ERROR = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
}
_HEX64 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): _json(_ERROR, "error") for code in (401, 403, 413, *codes)}


_DEVICE_PARAM = {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"}
_OCTETS = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}


def _updates_paths() -> dict[str, Any]:
    """The update delivery (``updater/server.py``) as mounted under ``/updates``."""
    u = authz.UPDATES_PREFIX
    name = {
        "name": "name",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": "^madoguchi-[A-Za-z0-9.+!_-]+\\.bundle$"},
    }
    it_only: list[dict[str, list[str]]] = [{"itToken": []}]
    return {
        f"{u}/releases/{{channel}}/latest": {
            "get": {
                "operationId": "updateLatest",
                "parameters": [
                    {
                        "name": "channel",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "pattern": "^[a-z0-9-]{1,32}$"},
                    }
                ],
                "responses": {
                    "200": _json({"type": "object"}),
                    "204": {"description": "nothing published on this channel"},
                    **_errors(),
                },
            }
        },
        f"{u}/bundles/{{name}}": {
            "parameters": [name],
            "get": {
                "operationId": "updateDownload",
                "responses": {
                    "200": {"description": "the bundle", "content": _OCTETS},
                    **_errors(404),
                },
            },
            "put": {
                "operationId": "updatePublish",
                "security": it_only,
                "parameters": [
                    {
                        "name": "channel",
                        "in": "query",
                        "schema": {"type": "string", "pattern": "^[a-z0-9-]{1,32}$"},
                    }
                ],
                "requestBody": {"required": True, "content": _OCTETS},
                "responses": {"201": _json({"type": "object"}), **_errors(400, 422)},
            },
        },
        f"{u}/devices/{{device_id}}/status": {
            "post": {
                "operationId": "updateReport",
                "parameters": [
                    {"name": "device_id", "in": "path", "required": True, "schema": _DEVICE_PARAM}
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["reports"],
                                "properties": {
                                    "reports": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "required": ["state", "at"],
                                            "properties": {
                                                "state": {"type": "string"},
                                                "at": {"type": "string"},
                                                "version": {"type": "string"},
                                                "running": {"type": "string"},
                                                "reason": {"type": "string"},
                                                "detail": {"type": "string"},
                                            },
                                        },
                                    }
                                },
                            }
                        }
                    },
                },
                "responses": {"200": _json({"type": "object"}), **_errors(400)},
            }
        },
        f"{u}/fleet": {
            "get": {
                "operationId": "updateFleet",
                "security": it_only,
                "responses": {"200": _json({"type": "object"}), **_errors()},
            }
        },
    }


def _with_matrix(paths: dict[str, Any]) -> dict[str, Any]:
    """Each operation names its row of the authorization matrix (``x-authorization``)."""
    for endpoint in authz.ENDPOINTS:
        operation = paths.get(endpoint.path, {}).get(endpoint.method.lower())
        if operation is None:
            continue
        operation["x-authorization"] = {
            "operation": endpoint.operation.value,
            "max_body_bytes": endpoint.max_body,
            "roles": {
                role.value: {"own": int(rule.own), "other": int(rule.other)}
                for role, rule in authz.POLICY[endpoint.operation].items()
            },
        }
    return paths


_RECORD_ITEM = {
    "type": "object",
    "required": ["seq", "transaction_id", "prev_hash", "hash", "payload"],
    "properties": {
        "seq": {"type": "integer", "minimum": 1},
        "transaction_id": {"type": "string", "minLength": 1, "maxLength": 64},
        "prev_hash": _HEX64,
        "hash": _HEX64,
        "payload": {
            "type": "object",
            "description": "TransactionRecord.to_payload() (versioned JSON, additive fields)",
            "required": ["transaction_id", "procedure", "decision", "completed_at"],
            "properties": {
                "transaction_id": {"type": "string"},
                "procedure": {"type": "string"},
                "decision": {"type": "string"},
                "completed_at": {"type": "string", "format": "date-time"},
                "office_code": {"type": "string", "maxLength": 16},
            },
        },
    },
}
_RESULT = {
    "type": "object",
    "required": ["status"],
    "properties": {
        "seq": {"type": ["integer", "null"]},
        "transaction_id": {"type": ["string", "null"]},
        "status": {"type": "string", "enum": ["accepted", "duplicate", "rejected"]},
        "error": {"type": ["string", "null"]},
    },
}
_STATUS_ENTRY = {
    "type": "object",
    "required": ["status", "label", "updated_at"],
    "properties": {
        "status": {"type": "string"},
        "label": {"type": "string"},
        "updated_at": {"type": "string"},
    },
}
_KEY_PARAM = {"type": "string", "minLength": 1, "maxLength": 64}


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "madoguchi central server",
            "version": "1",
            "description": "Transaction ingest, 交付状況 report, card and certificate status, "
            "the registry audit and the update delivery. A counter proves itself with its "
            "enrolled TLS client certificate (mutual TLS, which OpenAPI 3.0 cannot name); IT "
            "with its bearer token (itToken); enrolment with a one-time token in the body. "
            "Who may call what, for the own and another office, is each operation's "
            "x-authorization (docs/security.md). Bodies are bounded per operation and JSON "
            "may nest at most 32 levels.",
        },
        "components": {
            "securitySchemes": {
                "itToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "IT's token (the update delivery's publish token)",
                }
            }
        },
        "paths": _with_matrix(
            {
                "/v1/time": {
                    "get": {
                        "operationId": "serverTime",
                        "responses": {
                            "200": _json(
                                {
                                    "type": "object",
                                    "properties": {"server_time": {"type": "string"}},
                                }
                            ),
                            **_errors(),
                        },
                    }
                },
                "/v1/batches": {
                    "post": {
                        "operationId": "ingestBatch",
                        "parameters": [
                            {
                                "name": "Idempotency-Key",
                                "in": "header",
                                "required": False,
                                "schema": {"type": "string", "minLength": 1, "maxLength": 128},
                            }
                        ],
                        "requestBody": {
                            "required": True,
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["records"],
                                        "properties": {
                                            "records": {
                                                "type": "array",
                                                "minItems": 1,
                                                "maxItems": MAX_BATCH_RECORDS,
                                                "items": _RECORD_ITEM,
                                            }
                                        },
                                    }
                                }
                            },
                        },
                        "responses": {
                            "200": _json(
                                {
                                    "type": "object",
                                    "required": [
                                        "device_id",
                                        "high_water",
                                        "server_time",
                                        "results",
                                    ],
                                    "properties": {
                                        "device_id": {"type": "string"},
                                        "high_water": {"type": "integer"},
                                        "server_time": {"type": "string"},
                                        "results": {"type": "array", "items": _RESULT},
                                    },
                                }
                            ),
                            **_errors(400, 409, 413),
                        },
                    }
                },
                "/v1/devices/me": {
                    "get": {
                        "operationId": "deviceMe",
                        "responses": {"200": _json({"type": "object"}), **_errors()},
                    }
                },
                "/v1/devices/{device_id}/chain": {
                    "get": {
                        "operationId": "deviceChain",
                        "parameters": [
                            {
                                "name": "device_id",
                                "in": "path",
                                "required": True,
                                "schema": _KEY_PARAM,
                            }
                        ],
                        "responses": {"200": _json({"type": "object"}), **_errors(404)},
                    }
                },
                "/v1/reports/daily": {
                    "get": {
                        "operationId": "dailyReport",
                        "parameters": [
                            {
                                "name": "date",
                                "in": "query",
                                "required": True,
                                "schema": {"type": "string", "format": "date"},
                            },
                            {"name": "office", "in": "query", "schema": {"type": "string"}},
                            {
                                "name": "format",
                                "in": "query",
                                "schema": {"type": "string", "enum": ["json", "csv"]},
                            },
                        ],
                        "responses": {
                            "200": {
                                "description": "the 交付状況 report",
                                "content": {
                                    "application/json": {"schema": {"type": "object"}},
                                    "text/csv": {"schema": {"type": "string"}},
                                },
                            },
                            **_errors(400),
                        },
                    }
                },
                "/v1/cards/{card_id}/operation-status": {
                    "parameters": [
                        {"name": "card_id", "in": "path", "required": True, "schema": _KEY_PARAM}
                    ],
                    "get": {
                        "operationId": "cardStatus",
                        "responses": {"200": _json(_STATUS_ENTRY), **_errors(400, 404, 422)},
                    },
                    "put": {
                        "operationId": "setCardStatus",
                        "requestBody": {
                            "required": True,
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["status"],
                                        "properties": {
                                            "status": {
                                                "type": "string",
                                                "enum": ["in_operation", "suspended", "abolished"],
                                            },
                                            "reason": {"type": "string", "maxLength": 200},
                                            "hold_certificate_serials": {
                                                "type": "array",
                                                "maxItems": 16,
                                                "items": {"type": "string", "maxLength": 64},
                                            },
                                            "release_certificate_serials": {
                                                "type": "array",
                                                "maxItems": 16,
                                                "items": {"type": "string", "maxLength": 64},
                                            },
                                        },
                                    }
                                }
                            },
                        },
                        "responses": {"200": _json(_STATUS_ENTRY), **_errors(400, 404, 413, 422)},
                    },
                },
                "/v1/certificates/{serial}/status": {
                    "get": {
                        "operationId": "certificateStatus",
                        "parameters": [
                            {"name": "serial", "in": "path", "required": True, "schema": _KEY_PARAM}
                        ],
                        "responses": {"200": _json(_STATUS_ENTRY), **_errors(400, 404, 422)},
                    }
                },
                "/v1/registry/audit": {
                    "get": {
                        "operationId": "registryAudit",
                        "parameters": [
                            {"name": "office", "in": "query", "schema": {"type": "string"}},
                            {"name": "after", "in": "query", "schema": {"type": "integer"}},
                            {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                        ],
                        "responses": {"200": _json({"type": "object"}), **_errors(400)},
                    }
                },
                "/v1/enrolment": {
                    "post": {
                        "operationId": "enrol",
                        "security": [],
                        "requestBody": {
                            "required": True,
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["token", "csr_pem"],
                                        "properties": {
                                            "token": {"type": "string"},
                                            "csr_pem": {"type": "string"},
                                        },
                                    }
                                }
                            },
                        },
                        "responses": {
                            "200": _json({"type": "object"}),
                            **{str(c): _json(_ERROR, "error") for c in (400, 403, 413, 429)},
                        },
                    }
                },
                "/v1/enrolment/ca": {
                    "get": {
                        "operationId": "enrolmentCa",
                        "description": "The server's CA certificate (PEM), for a new counter to"
                        " show its SHA-256 fingerprint before it enrols.",
                        "security": [],
                        "responses": {
                            "200": _json(
                                {
                                    "type": "object",
                                    "required": ["ca_pem"],
                                    "properties": {"ca_pem": {"type": "string"}},
                                }
                            )
                        },
                    }
                },
                "/v1/sim/issuing-authority/certificates": {
                    "post": {
                        "operationId": "simIssueCertificate",
                        "description": "Simulation only: a test certificate for the virtual card.",
                        "requestBody": {
                            "required": True,
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["kind", "public_key_pem"],
                                        "properties": {
                                            "kind": {"type": "string", "enum": ["sign", "auth"]},
                                            "public_key_pem": {"type": "string"},
                                        },
                                    }
                                }
                            },
                        },
                        "responses": {"200": _json({"type": "object"}), **_errors(400, 404, 413)},
                    }
                },
                **_probe_paths(),
                **_updates_paths(),
            }
        ),
    }


def _probe_paths() -> dict[str, Any]:
    """``/healthz`` and ``/readyz`` (``sync/server/health.py``): open, no credential."""
    ready = {
        "type": "object",
        "required": ["ready"],
        "properties": {"ready": {"type": "boolean"}, "reason": {"type": "string"}},
    }
    return {
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "description": "The process is alive (no database query).",
                "security": [],
                "responses": {
                    "200": _json({"type": "object", "properties": {"alive": {"type": "boolean"}}})
                },
            }
        },
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "description": "The database answers and its schema is this server's.",
                "security": [],
                "responses": {"200": _json(ready), "503": _json(ready, "not ready, and why")},
            }
        },
    }
