"""Test infrastructure: real PostgreSQL, a real Kafka-protocol broker, the services as processes."""
