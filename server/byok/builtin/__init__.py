"""The built-in models: Tab completion and Apply, local and deterministic, never touching a user's key."""
