"""The runtime every stage stands on: settings, Kafka worker loop, object store, ClickHouse, metrics, logs."""
