"""Ingest: validates interview-completed events, copies media into the raw bucket, probes it."""
