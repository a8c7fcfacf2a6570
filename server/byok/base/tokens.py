"""Token counts without a tokenizer: estimates that err high, for limits and reservations."""

from __future__ import annotations


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate that errs high: one token per 4 ASCII characters, one per other character.

    English prose and code run at about 4 characters per token on current BPE tokenizers; CJK and other
    non-ASCII scripts at roughly one token per character or more, so those count whole.
    """
    ascii_chars = len(text.encode("ascii", "ignore"))
    return -(-ascii_chars // 4) + (len(text) - ascii_chars)
