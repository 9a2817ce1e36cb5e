"""MCP method handlers, one module per family. Each handler takes (app services, context, raw
params) and returns the result object; errors are raised as ProtocolError."""
