"""The ACP front end (`byok acp`): byok as an Agent Client Protocol agent, beside the language server."""
