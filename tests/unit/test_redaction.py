"""Redaction of registered keys in their common encodings, and of keys split across stream deltas."""

from __future__ import annotations

import base64
import json
import random
from urllib.parse import quote, quote_plus

import pytest
from tests.conftest import TEST_KEY_AZURE, TEST_KEY_COMPAT, TEST_KEY_OPENAI

from byok.base.redaction import MAX_KEY_SHAPE_LEN, REDACTOR, DeltaRedactor, StreamRedactor, redact

# An AWS-style secret: '/' and '+' exercise URL-encoding, JSON escapes and both base64 alphabets.
SLASHY_KEY = "FAKE/aws+secret/TESTKEY+slashy/0000+FAKE"
KEYS = (TEST_KEY_OPENAI, TEST_KEY_AZURE, TEST_KEY_COMPAT, SLASHY_KEY)


@pytest.fixture(autouse=True, scope="module")
def registered() -> None:
    for key in KEYS:
        REDACTOR.register(key)


def _lower_hex_escapes(text: str) -> str:
    """Percent-escapes with lower-case hex digits, as some HTTP libraries write them."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "%":
            out.append(text[i : i + 3].lower())
            i += 3
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _b64_forms(raw: bytes) -> list[str]:
    std = base64.b64encode(raw).decode()
    url = base64.urlsafe_b64encode(raw).decode()
    return [std, std.rstrip("="), url, url.rstrip("=")]


def encodings(key: str) -> dict[str, str]:
    """Every form of `key` a provider, an HTTP library or a tool really produces."""
    raw = key.encode()
    forms = {
        "quote": quote(key, safe=""),
        "quote-default-safe": quote(key),
        "quote-lower": _lower_hex_escapes(quote(key, safe="")),
        "quote_plus": quote_plus(key, safe=""),
        "quote_plus-lower": _lower_hex_escapes(quote_plus(key, safe="")),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
        "json-slash": json.dumps(key)[1:-1].replace("/", "\\/"),
        "json-unicode": "".join(c if c.isalnum() else f"\\u{ord(c):04x}" for c in key),
        "json-UNICODE": "".join(c if c.isalnum() else f"\\u{ord(c):04X}" for c in key),
    }
    for prefix in (b"", b"x:", b"user:", b"ab:", b"abcd:"):
        for i, form in enumerate(_b64_forms(prefix + raw)):
            forms[f"base64[{prefix!r}]#{i}"] = form
            forms[f"base64[{prefix!r}]#{i}-in-json"] = json.dumps(form)[1:-1].replace("/", "\\/")
            forms[f"base64[{prefix!r}]#{i}-in-url"] = quote(form, safe="")
    return forms


def _key_bits_left(text: str, key: str) -> list[str]:
    """Forms of `key` still (nearly) whole in `text`: any 12-character run of any encoding."""
    found = []
    for name, form in {"raw": key, **encodings(key)}.items():
        runs = {form[i : i + 12] for i in range(0, max(1, len(form) - 12))}
        if any(run in text for run in runs):
            found.append(name)
    return found


@pytest.mark.parametrize("key", KEYS, ids=["openai", "azure-hex", "compat", "aws-slashy"])
def test_every_encoding_is_redacted(key: str) -> None:
    for name, form in encodings(key).items():
        text = f"error: invalid credential <{form}> in request"
        redacted = redact(text)
        assert not _key_bits_left(redacted, key), (name, redacted)
        assert redacted.startswith("error: invalid credential <") and redacted.endswith("> in request")


def test_basic_auth_header_is_redacted() -> None:
    header = "Authorization: Basic " + base64.b64encode(f"api:{TEST_KEY_COMPAT}".encode()).decode()
    assert not _key_bits_left(redact(header), TEST_KEY_COMPAT)


def _stream(redactor: StreamRedactor, pieces: list[str]) -> str:
    return "".join(redactor.feed(piece) for piece in pieces) + redactor.finish()


TEXTS = [
    f"Your key is {key_form} — keep it safe. sks AIz s"
    for key in KEYS
    for key_form in (key, *encodings(key).values())
]


@pytest.mark.parametrize("text", TEXTS[:: max(1, len(TEXTS) // 40)])
def test_key_split_across_two_deltas_at_every_point(text: str) -> None:
    whole = redact(text)
    for split in range(len(text) + 1):
        out = _stream(StreamRedactor(), [text[:split], text[split:]])
        assert out == whole, split


def test_random_chunking_equals_redacting_the_whole_text() -> None:
    rng = random.Random(11)
    forms = [form for key in KEYS for form in (key, *encodings(key).values())]
    for _ in range(300):
        text = "".join(
            rng.choice([*forms, " ", "sk-", "s", "a", "7", "%", "\\u00", "AIza", "the end. ", "\n"])
            for _ in range(rng.randint(1, 12))
        )
        cuts = sorted(rng.sample(range(len(text) + 1), k=min(len(text) + 1, rng.randint(1, 10))))
        pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
        redactor = StreamRedactor()
        out = []
        for piece in pieces:
            out.append(redactor.feed(piece))
            assert len(redactor.held) <= REDACTOR.hold_limit
        out.append(redactor.finish())
        assert "".join(out) == redact(text), pieces


def test_hold_back_is_bounded_by_the_longest_key_form() -> None:
    longest = max(len(form) for key in KEYS for form in (key, *encodings(key).values()))
    assert REDACTOR.hold_limit >= max(longest, MAX_KEY_SHAPE_LEN) - 1
    redactor = StreamRedactor()
    # A stream that keeps looking like the start of a key shape for far longer than any key.
    out = redactor.feed("sk-")
    for _ in range(2000):
        out += redactor.feed("a")
        assert len(redactor.held) <= REDACTOR.hold_limit
    assert len(out) >= 2003 - REDACTOR.hold_limit


def test_text_without_key_prefixes_flows_through_at_once() -> None:
    redactor = StreamRedactor()
    for piece in ["The answer ", "is 42.\n", "def f():\n", "    return 1\n", "(done) "]:
        assert redactor.feed(piece) == piece
        assert redactor.held == ""
    assert redactor.finish() == ""


def test_only_a_possible_key_start_is_held_and_released_at_the_end() -> None:
    redactor = StreamRedactor()
    assert redactor.feed("use the flask") == "use the fla"  # "sk" may start "sk-…"
    assert redactor.held == "sk"
    assert redactor.feed(" app") == "sk app"
    # 18 characters: too short for the `sk-` key shape too (20 would be redacted as one, whole or streamed).
    assert redactor.feed(f"key {TEST_KEY_OPENAI[:18]}") == "key "
    assert redactor.finish() == TEST_KEY_OPENAI[:18]  # a key that never completed is plain text


def test_key_shape_never_registered_is_caught_across_deltas() -> None:
    unknown = "sk-ant-api03-UNSEENTESTKEY0000000000000000000000000000000000000FAKE"
    text = f"echo: {unknown}."
    for split in range(len(text) + 1):
        out = _stream(StreamRedactor(), [text[:split], text[split:]])
        assert out == redact(text) == "echo: sk-ant-…FAKE.", (split, out)


def test_a_redactor_without_keys_still_redacts_key_shapes_and_nothing_else() -> None:
    fresh = type(REDACTOR)()
    assert fresh.redact("plain text, sk and AIza") == "plain text, sk and AIza"
    assert fresh.redact("key sk-UNSEENTESTKEY000000FAKE") == "key sk-…FAKE"


def test_delta_redactor_keeps_kinds_apart_and_never_holds_a_status_line() -> None:
    redactor = DeltaRedactor()
    assert redactor.feed("text", "ask") == "a"
    assert redactor.feed("status", "retrying in 1.0 s") == "retrying in 1.0 s"
    assert redactor.feed("reasoning", f"{TEST_KEY_OPENAI[:30]}") == ""
    assert redactor.feed("text", f"-{TEST_KEY_OPENAI[3:]} done.") == "sk-proj-…1b2c done."
    assert redactor.feed("reasoning", f"{TEST_KEY_OPENAI[30:]}.") == "sk-proj-…1b2c."
    assert redactor.feed("reasoning", " hmm, s") == " hmm, "
    assert redactor.finish() == [("reasoning", "s")]


@pytest.mark.parametrize(
    "text",
    [
        "class task-manager-component-list {}",
        "mask-0123456789abcdefghij and disk-0123456789abcdefghij",
        "pip install sk-learn-compatible-estimators",
        "XAKIAFAKEFAKEFAKEFAKE",
    ],
)
def test_words_that_merely_contain_a_key_prefix_are_left_alone(text: str) -> None:
    assert redact(text) == text
    for split in range(len(text) + 1):
        assert _stream(StreamRedactor(), [text[:split], text[split:]]) == text, split


def test_a_key_shape_after_a_word_boundary_is_still_caught_in_pieces() -> None:
    text = "token=sk-proj-UNSEEN0123456789abcdefFAKE;"
    assert redact(text) == "token=sk-proj-…FAKE;"
    for split in range(len(text) + 1):
        assert _stream(StreamRedactor(), [text[:split], text[split:]]) == redact(text), split
