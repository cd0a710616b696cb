"""Errors of the local store (leaves of :class:`madoguchi.errors.StoreError`)."""

from __future__ import annotations

from madoguchi.errors import StoreError


class OutboxFullError(StoreError):
    """The outbox holds as many unsent records as it may; no new procedure may start.

    Nothing is dropped: the queue's full policy is to refuse new work, never to
    overwrite or discard a completed transaction.
    """


class DuplicateTransactionError(StoreError, ValueError):
    """A record with this transaction id is already stored."""


class SchemaVersionError(StoreError):
    """The database was written by a newer madoguchi than this one."""
