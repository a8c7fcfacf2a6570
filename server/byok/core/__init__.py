"""One model call for any feature (session, routing, turn with retries and fallback), keys and money."""
