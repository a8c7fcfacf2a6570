"""The errors of workspace operations: a tool call that cannot be carried out, a path the jail refuses."""

from __future__ import annotations


class ToolError(Exception):
    """A tool call that cannot be carried out; the message goes back to the model (or the user)."""


class PathRefused(ToolError):
    """A path outside the workspace, through a symlink leading out, or to a secret-looking file."""
