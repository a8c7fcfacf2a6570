"""The language server: pygls wiring, the command table, params, the byok/stream sink, stdio, the client."""
