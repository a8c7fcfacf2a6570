"""The user's files: the jail, the one bounded reader, LSP edits, in-memory changes, ignore rules, shell."""
