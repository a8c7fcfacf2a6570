"""MCP (Model Context Protocol) client on the official `mcp` SDK: servers from the user's settings, their tools
and resources. The SDK is imported only when a server starts, never at byok's start."""
