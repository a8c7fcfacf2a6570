"""Compressed replies (`Content-Encoding: gzip`/`deflate`), including decompression bombs.

Bombs are compressed as they are generated, so building one never holds its inflated size in memory.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Literal

from tests.fakes.server import Item, Reply

Encoding = Literal["gzip", "deflate"]
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
NETWORK_CHUNK = 16 * 1024


def _compressor(encoding: Encoding) -> zlib._Compress:
    return zlib.compressobj(9, zlib.DEFLATED, _WBITS[encoding])


def compressed(reply: Reply, encoding: Encoding = "gzip") -> Reply:
    """`reply` with its body or each chunk compressed (one stream, flushed per chunk so each arrives whole)."""
    compressor = _compressor(encoding)
    headers = {**reply.headers, "content-encoding": encoding}
    if reply.chunks is None:
        return replace(reply, headers=headers, body=compressor.compress(reply.body) + compressor.flush())
    items: list[Item] = []
    for item in reply.chunks:
        items.append(
            compressor.compress(item) + compressor.flush(zlib.Z_SYNC_FLUSH)
            if isinstance(item, bytes)
            else item
        )
    items.append(compressor.flush())
    return replace(reply, headers=headers, chunks=items)


def bomb(
    head: bytes, filler: bytes, inflated_size: int, tail: bytes = b"", encoding: Encoding = "gzip"
) -> list[bytes]:
    """Compressed `head`, then `filler` repeated up to `inflated_size` bytes, then `tail`, in network chunks."""
    compressor = _compressor(encoding)
    block = filler * max(1, (1 << 20) // len(filler))

    def pieces() -> Iterator[bytes]:
        yield compressor.compress(head)
        remaining = inflated_size - len(head) - len(tail)
        while remaining > 0:
            yield compressor.compress(block[:remaining])
            remaining -= len(block)
        yield compressor.compress(tail)
        yield compressor.flush()

    return list(_rechunk(pieces(), NETWORK_CHUNK))


def bomb_reply(
    head: bytes,
    filler: bytes,
    inflated_size: int,
    tail: bytes = b"",
    *,
    status: int = 200,
    content_type: str = "text/event-stream",
    encoding: Encoding = "gzip",
) -> Reply:
    """A reply whose compressed chunks inflate to `inflated_size` bytes (see `bomb`)."""
    return Reply(
        status=status,
        headers={"content-type": content_type, "content-encoding": encoding},
        chunks=list(bomb(head, filler, inflated_size, tail, encoding)),
    )


def _rechunk(pieces: Iterable[bytes], size: int) -> Iterator[bytes]:
    buffer = bytearray()
    for piece in pieces:
        buffer += piece
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)
