"""Malformed framing on stdin, against the real `byok-server` process on raw pipes (no LSP library).

What byok's reader (`byok.transport`) does, as asserted here:

- A body that is not JSON (or not UTF-8): -32700 with id null, logged; the server carries on.
- A message that is not JSON-RPC 2.0 (an array, a batch, jsonrpc 1.0): -32600, logged; it carries on.
- A request whose params cannot be read (null params, no command): an error answer with its id.
- A "jsonrpc" key inside params is plain data, not a nested message.
- An unknown method: -32601 (MethodNotFound).
- A header the stream cannot be resynchronised after (Content-Length not a number, negative, a float, a
  missing blank line, a Content-Length over the 64 MiB limit, a header line over it): logged on stderr,
  and the server exits 1.
- EOF inside a body: logged, exit 1. EOF or `exit` without `shutdown`: exit 1; after `shutdown`: 0.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.helpers import RawServer, frame, hostile_env

METHOD_NOT_FOUND = -32601
DEAF_WAIT_S = 1.0
"""How long a request may go unanswered before the server counts as deaf (answers normally take ~10 ms)."""


@dataclass
class Observed:
    """What one scenario saw: answers to the follow-up requests, exit code, stderr."""

    answers: list[dict[str, Any] | None] = field(default_factory=list)
    returncode: int | None = None
    stderr: str = ""
    notes: dict[str, Any] = field(default_factory=dict)


Scenario = Callable[[RawServer, Observed], None]


def garbage_then_requests(garbage: bytes) -> Scenario:
    """Send `garbage`, then two valid requests; record whether each was answered; then exit cleanly."""

    def run(server: RawServer, seen: Observed) -> None:
        server.send(garbage)
        seen.answers.append(server.status(1, DEAF_WAIT_S))
        seen.answers.append(server.status(2, 0.5 if seen.answers[0] is None else 5.0))

    return run


def then_eof(data: bytes) -> Scenario:
    def run(server: RawServer, seen: Observed) -> None:
        server.send(data)
        time.sleep(0.2)
        server.close_stdin()

    return run


def exit_without_shutdown(server: RawServer, seen: Observed) -> None:
    server.send_message({"jsonrpc": "2.0", "method": "exit"})


def shutdown_then_exit(server: RawServer, seen: Observed) -> None:
    seen.answers.append(server.request(90, "shutdown", None))
    server.send_message({"jsonrpc": "2.0", "method": "exit"})


def huge_length_then_request(server: RawServer, seen: Observed) -> None:
    server.send(b"Content-Length: 1000000000000000\r\n\r\n{}")
    seen.answers.append(server.status(1, DEAF_WAIT_S))
    seen.notes["stderr_before_eof"] = server.stderr
    server.close_stdin()


def long_header_line(server: RawServer, seen: Observed) -> None:
    server.send(b"X-Padding: " + b"x" * (65 * 1024 * 1024))  # it stops reading once over its limit
    seen.notes["exited_without_eof"] = server.wait_exit(10) is not None


SCENARIOS: dict[str, Scenario] = {
    "length-not-a-number": garbage_then_requests(b"Content-Length: abc\r\n\r\n{}"),
    "length-negative": garbage_then_requests(b"Content-Length: -5\r\n\r\n{}"),
    "length-float": garbage_then_requests(b"Content-Length: 1e1\r\n\r\n{}"),
    "no-header-separator": garbage_then_requests(b'Content-Length: 2\r\n{"a"}'),
    "longer-than-body-then-eof": then_eof(b'Content-Length: 100\r\n\r\n{"jsonrpc":"2.0"}'),
    "truncated-body-then-eof": then_eof(frame({"jsonrpc": "2.0", "id": 5, "method": "shutdown"})[:-7]),
    "eof-after-initialize": then_eof(b""),
    "huge-length": huge_length_then_request,
    "header-line-over-64-mib": long_header_line,
    "exit-without-shutdown": exit_without_shutdown,
    "shutdown-then-exit": shutdown_then_exit,
}


def _run_scenario(name: str, base: Path) -> Observed:
    server = RawServer(hostile_env(base / name))
    seen = Observed()
    try:
        server.initialize()
        SCENARIOS[name](server, seen)
        server.close_stdin()
        seen.returncode = server.wait_exit(15)
    finally:
        server.stop()
        seen.stderr = server.stderr
    return seen


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Observed]]:
    """Every single-server scenario, a few side by side (most of their time is waiting; all at once would
    make each server's start wait for the others' on a 2-core machine)."""
    base = tmp_path_factory.mktemp("framing")
    with ThreadPoolExecutor(max_workers=min(4, len(SCENARIOS))) as pool:
        futures = {name: pool.submit(_run_scenario, name, base) for name in SCENARIOS}
        yield {name: future.result() for name, future in futures.items()}


# -- bodies that are not JSON-RPC: logged, and the server carries on ----------------------------------------

GARBAGE_BODIES = {
    "invalid-json": b"{not json",
    "invalid-utf8": b'{"jsonrpc":"2.0","id":5,"method":"\xff\xfe"}',
    "json-array": b"[1, 2, 3]",
    "json-string": b'"hello"',
    "json-number": b"42",
    "no-jsonrpc-member": b'{"hello": "world"}',
    "batch": json.dumps([{"jsonrpc": "2.0", "id": 5, "method": "shutdown"}]).encode(),
    "request-without-params": b'{"jsonrpc":"2.0","id":6,"method":"workspace/executeCommand"}',
    "params-null": b'{"jsonrpc":"2.0","id":7,"method":"workspace/executeCommand","params":null}',
    "params-array": b'{"jsonrpc":"2.0","id":8,"method":"workspace/executeCommand","params":[1]}',
    "jsonrpc-1.0": b'{"jsonrpc":"1.0","id":9,"method":"byok/noSuchMethod","params":null}',
    "id-object": b'{"jsonrpc":"2.0","id":{"a":1},"method":"byok/noSuchMethod","params":null}',
}


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RawServer]:
    server = RawServer(hostile_env(tmp_path_factory.mktemp("framing-shared")))
    try:
        server.initialize()
        yield server
    finally:
        server.close_stdin()
        server.wait_exit(5)
        server.stop()


_next_id = iter(range(1000, 100_000))


@pytest.mark.parametrize("body", GARBAGE_BODIES.values(), ids=GARBAGE_BODIES.keys())
def test_a_body_that_is_not_json_rpc_is_logged_and_the_server_carries_on(
    shared: RawServer, body: bytes
) -> None:
    logged = len(shared.stderr)
    shared.send(frame(body))
    answer = shared.status(next(_next_id))
    assert answer is not None and "result" in answer, "the next request after the bad body was not answered"
    assert shared.process.poll() is None
    assert any(level in shared.stderr[logged:] for level in (" ERROR ", " WARNING ")), "nothing was logged"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"jsonrpc":"2.0","id":4242,"method":"workspace/executeCommand","params":null}', "error"),
        (
            b'{"jsonrpc":"2.0","id":4242,"method":"workspace/executeCommand","params":{"arguments":[]}}',
            "error",
        ),
        (
            b'{"jsonrpc":"2.0","id":4242,"method":"workspace/executeCommand","params":{"command":"byok.status",'
            b'"arguments":[{"jsonrpc":"2.0","id":1,"error":5}]}}',
            "result",  # a "jsonrpc" key inside params is just data (byok.status ignores unknown fields)
        ),
    ],
    ids=["params-null", "command-missing", "jsonrpc-key-in-arguments"],
)
def test_a_malformed_request_with_an_id_gets_an_answer(shared: RawServer, body: bytes, expected: str) -> None:
    shared.send(frame(body))
    answer = shared.wait_for(4242, 0.7)
    assert answer is not None and expected in answer, answer


def test_an_unknown_method_is_method_not_found(shared: RawServer) -> None:
    answer = shared.request(next(_next_id), "byok/noSuchMethod", {})
    assert answer is not None and answer["error"]["code"] == METHOD_NOT_FOUND, answer
    assert shared.status(next(_next_id)) is not None


def test_headers_other_than_content_length_are_ignored(shared: RawServer) -> None:
    msg_id = next(_next_id)
    body = json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": "byok/noSuchMethod", "params": {}}).encode()
    shared.send(
        b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\nX-Extra: 1\r\n"
        b"Content-Length: %d\r\n\r\n%b" % (len(body), body)
    )
    answer = shared.wait_for(msg_id)
    assert answer is not None and answer["error"]["code"] == METHOD_NOT_FOUND, answer


def test_requests_split_across_many_writes_are_reassembled(shared: RawServer) -> None:
    msg_id = next(_next_id)
    data = frame({"jsonrpc": "2.0", "id": msg_id, "method": "byok/noSuchMethod", "params": {"x": "héllo 🙂"}})
    for offset in range(0, len(data), 7):
        shared.send(data[offset : offset + 7])
    answer = shared.wait_for(msg_id)
    assert answer is not None and answer["error"]["code"] == METHOD_NOT_FOUND, answer


# -- bad headers: observed behaviour, and what it should be -------------------------------------------------

BAD_HEADERS = ["length-not-a-number", "length-negative", "length-float", "no-header-separator"]


@pytest.mark.parametrize("name", BAD_HEADERS)
def test_after_a_bad_header_the_process_survives(observed: dict[str, Observed], name: str) -> None:
    seen = observed[name]
    assert seen.returncode is not None, "the server did not exit at EOF"
    assert "Traceback" not in seen.stderr or "Unable to handle message" in seen.stderr, seen.stderr[-2000:]


@pytest.mark.parametrize("name", BAD_HEADERS)
def test_a_bad_header_is_reported_or_recovered_from(observed: dict[str, Observed], name: str) -> None:
    seen = observed[name]
    recovered = seen.answers[-1] is not None
    exited_clearly = seen.returncode not in (None, 0) and "Content-Length" in seen.stderr
    assert recovered or exited_clearly, (seen.answers, seen.returncode, seen.stderr[-1500:])


def test_a_huge_content_length_swallows_what_follows(observed: dict[str, Observed]) -> None:
    seen = observed["huge-length"]
    assert seen.answers == [None]  # the request after it became part of the "body"
    assert seen.returncode is not None, "the server did not exit at EOF"


def test_a_huge_content_length_is_refused_with_a_message(observed: dict[str, Observed]) -> None:
    assert "Content-Length" in observed["huge-length"].notes["stderr_before_eof"]


@pytest.mark.parametrize("name", ["longer-than-body-then-eof", "truncated-body-then-eof"])
def test_a_body_cut_by_eof_is_logged_and_the_server_exits(observed: dict[str, Observed], name: str) -> None:
    seen = observed[name]
    assert seen.returncode == 1, "the server did not exit 1 at EOF inside a body"
    assert "body bytes; the LSP stream cannot be resynchronised" in seen.stderr, seen.stderr[-2000:]


def test_a_header_line_over_the_read_limit_exits_with_a_message(observed: dict[str, Observed]) -> None:
    seen = observed["header-line-over-64-mib"]
    assert seen.notes["exited_without_eof"]
    assert "header line is longer than" in seen.stderr


def test_shutdown_then_exit_exits_zero(observed: dict[str, Observed]) -> None:
    seen = observed["shutdown-then-exit"]
    assert seen.answers[0] is not None and "result" in seen.answers[0]
    assert seen.returncode == 0, seen.stderr[-2000:]


@pytest.mark.parametrize(
    "name",
    ["exit-without-shutdown", "eof-after-initialize", "longer-than-body-then-eof", "header-line-over-64-mib"],
)
def test_ending_without_shutdown_exits_non_zero(observed: dict[str, Observed], name: str) -> None:
    assert observed[name].returncode not in (None, 0), observed[name].returncode
