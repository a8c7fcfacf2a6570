"""byok: a bring-your-own-key AI backend for code editors, served over the Language Server Protocol."""

__version__ = "0.1.0"
