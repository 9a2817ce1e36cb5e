"""Millimetric query service: analytics reads over PostgreSQL, for the gateway."""
