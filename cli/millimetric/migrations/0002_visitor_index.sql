-- Per-visitor lookups: session resolution of `inherit` events at ingest, funnels and visitor filters.
CREATE INDEX events_visitor_time ON events (project_id, visitor_id, timestamp);
