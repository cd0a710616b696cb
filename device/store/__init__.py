"""The device's local store: transactions, their outbox and the uploader status."""

from __future__ import annotations

from device.store.chain import GENESIS_HASH, canonical_json, record_hash
from device.store.errors import DuplicateTransactionError, OutboxFullError, SchemaVersionError
from device.store.status import UploaderStatus, current_boot_id
from device.store.store import QUEUE_HEADROOM, OutboxItem, Store, StoredRecord

__all__ = [
    "GENESIS_HASH",
    "QUEUE_HEADROOM",
    "DuplicateTransactionError",
    "OutboxFullError",
    "OutboxItem",
    "SchemaVersionError",
    "Store",
    "StoredRecord",
    "UploaderStatus",
    "canonical_json",
    "current_boot_id",
    "record_hash",
]
