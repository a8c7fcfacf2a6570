"""What every layer may import: the protocol's names, the error type, settings, redaction, text helpers."""
