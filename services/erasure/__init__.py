"""Candidate rights: erasure in every store, erasure receipts, and retention by tenant and jurisdiction."""
