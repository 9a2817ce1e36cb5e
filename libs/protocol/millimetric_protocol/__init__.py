"""Millimetric's shared contracts: JSON-RPC/MCP envelopes, tool arguments, the Kafka event
message, the internal read API, errors and limits. Every service imports this; no service
imports another."""

__version__ = "0.1.0"
