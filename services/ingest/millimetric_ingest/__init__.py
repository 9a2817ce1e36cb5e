"""Millimetric ingest worker: Kafka consumer group → attribution → PostgreSQL."""
