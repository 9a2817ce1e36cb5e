"""Millimetric gateway: the public MCP endpoint (POST /mcp and /mcp/account)."""
