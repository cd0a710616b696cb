"""The server's OpenAPI 3.0 description (served at ``/openapi.json``).

Written out by hand so that every request body and parameter has a schema that
the server really enforces; schemathesis tests the server against it.
"""

from __future__ import annotations

from typing import Any

from sync.protocol import MAX_BATCH_RECORDS

_ERROR = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
}
_HEX64 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): _json(_ERROR, "error") for code in (401, 403, *codes)}


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
            "description": "Transaction ingest, 交付状況 report, card and certificate status. "
            "Every operation except enrolment needs an enrolled TLS client certificate.",
        },
        "paths": {
            "/v1/time": {
                "get": {
                    "operationId": "serverTime",
                    "responses": {
                        "200": _json(
                            {"type": "object", "properties": {"server_time": {"type": "string"}}}
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
                                "required": ["device_id", "high_water", "server_time", "results"],
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
                        {"name": "device_id", "in": "path", "required": True, "schema": _KEY_PARAM}
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
                        **{str(c): _json(_ERROR, "error") for c in (400, 403, 413)},
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
        },
    }
