"""Sink: batched, idempotent writes of profiles, features and status into ClickHouse."""
