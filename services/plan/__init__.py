"""Capacity plan for a recruitment peak (`sightline plan`): replicas, cores, memory, partitions, Kafka, S3 and
ClickHouse volumes, and when the last profile arrives, from costs measured per interview-minute."""
