"""MCP tool results and resource contents as text for the model: text passed on (bounded, the cut said),
images, audio and binary summarised, structured content as JSON when no text came with it."""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING

from byok.base.redaction import redact

if TYPE_CHECKING:
    from mcp_types import CallToolResult, ContentBlock, ReadResourceResult


def _decoded_size(data: str) -> int | None:
    try:
        return len(base64.b64decode(data, validate=False))
    except (binascii.Error, ValueError):
        return None


def _binary(kind: str, mime_type: str | None, data: str, uri: str | None = None) -> str:
    size = _decoded_size(data)
    where = f" {uri}" if uri else ""
    how_big = f"{size} bytes" if size is not None else "undecodable base64"
    return f"[{kind}{where}: {mime_type or 'unknown type'}, {how_big}; not shown]"


def _block_text(block: ContentBlock) -> str:
    from mcp_types import AudioContent, EmbeddedResource, ImageContent, ResourceLink, TextContent

    if isinstance(block, TextContent):
        return block.text
    if isinstance(block, ImageContent):
        return _binary("image", block.mime_type, block.data)
    if isinstance(block, AudioContent):
        return _binary("audio", block.mime_type, block.data)
    if isinstance(block, ResourceLink):
        return f"[resource link: {block.uri} ({block.name})]"
    if isinstance(block, EmbeddedResource):
        return _contents_text(block.resource)
    return f"[{getattr(block, 'type', 'unknown')} content; not shown]"


def _contents_text(contents: object) -> str:
    from mcp_types import BlobResourceContents, TextResourceContents

    if isinstance(contents, TextResourceContents):
        return contents.text
    if isinstance(contents, BlobResourceContents):
        return _binary("binary resource", contents.mime_type, contents.blob, contents.uri)
    return "[unknown resource contents; not shown]"


def bounded(text: str, max_bytes: int) -> str:
    """`text` redacted and cut to `max_bytes` of UTF-8 (whole characters), saying so when cut."""
    text = redact(text)
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    kept = data[:max_bytes].decode(errors="ignore")
    return kept + f"\n[... truncated: the result was {len(data)} bytes; {max_bytes} shown ...]"


def tool_result_text(result: CallToolResult, max_bytes: int) -> str:
    """What the model reads of one tool result."""
    parts = [_block_text(block) for block in result.content]
    if result.structured_content is not None and not any(part.strip() for part in parts):
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return bounded("\n".join(parts) if parts else "(no content)", max_bytes)


def resource_text(result: ReadResourceResult, max_bytes: int) -> str:
    """A resource's contents as text: text parts joined, binary ones summarised."""
    return bounded("\n".join(_contents_text(c) for c in result.contents), max_bytes)
