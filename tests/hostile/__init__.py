"""Hostile input: fuzzed command params, malformed stdio framing, provider faults at every stream offset."""
