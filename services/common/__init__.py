"""The runtime every stage stands on: settings, stream engines (aiokafka loop, faust), object store, ClickHouse,
metrics, logs."""
