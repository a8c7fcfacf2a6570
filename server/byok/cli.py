"""`byok`: the headless CLI over the same backend and features as the language server.

Keys are read from a hidden prompt or stdin, never from argv. Every command takes `--json` for scripts.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import ValidationError

from byok import __version__
from byok.base.config import REASONING_EFFORTS, load_settings
from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.base.redaction import DeltaRedactor, log_to_stderr, redact, redact_data
from byok.core.approvals import GLOBAL_SCOPE, workspace_scope
from byok.core.session import Backend
from byok.features.chat import ChatParams, chat
from byok.features.rules import rules_status
from byok.workspace.jail import FileJail, uri_to_path

EXIT_FAILED = 1


def settings_path() -> Path:
    explicit = os.environ.get("BYOK_SETTINGS")
    return Path(explicit) if explicit else platformdirs.user_config_path("byok") / "settings.json"


def load_backend(path: Path | None) -> Backend:
    path = path or settings_path()
    raw: Any = None
    if path.exists():
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            print(f"byok: {path} is not valid JSON ({exc}); using defaults", file=sys.stderr)
    settings, problems = load_settings(raw.get("byok", raw) if isinstance(raw, dict) else raw)
    for problem in problems:
        print(f"byok: {problem}", file=sys.stderr)
    return Backend(settings)


class TerminalSink:
    """Streams answer text to stdout as it arrives; status and reasoning go to stderr.

    Redacted as the LSP stream is (`DeltaRedactor`); `close` writes what was held back.
    """

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self._redactor = DeltaRedactor()

    def delta(self, kind: str, text: str) -> None:
        if not self.quiet:
            self._write(kind, self._redactor.feed(kind, text))

    def close(self) -> None:
        for kind, rest in self._redactor.finish():
            self._write(kind, rest)

    def _write(self, kind: str, text: str) -> None:
        if not text:
            return
        stream = sys.stdout if kind == "text" else sys.stderr
        stream.write(text if kind == "text" else f"[{kind}] {text}\n")
        stream.flush()


def read_secret(provider: str) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(f"API key for {provider} (input hidden): ")
    return sys.stdin.read()


def confirm_on_terminal(question: str) -> bool:
    """Ask y/N; only a person at a terminal can answer (stdin and stdout are a tty), never a pipe or script."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise ByokError(
            ErrorCode.BIND_NOT_CONFIRMED,
            "`byok keys bind` asks for confirmation on a terminal, and stdin/stdout are not one",
            fix="Run `byok keys bind PROVIDER` yourself in an interactive terminal",
        )
    print(question)
    return input("Bind? [y/N] ").strip().lower() in ("y", "yes")


def _route_text(route: dict[str, Any]) -> str:
    ca = route["caBundle"]
    return f"{route['endpoint']} (proxy: {route['proxy'] or 'none'}, CA: {ca[:19] + '…' if ca else 'system'})"


def _render_stored(result: dict[str, Any]) -> str:
    text = f"Stored {result['provider']} key {result['fingerprint']} in the keychain"
    if "route" in result:
        text += f", bound to {_route_text(result['route'])}"
        text += f"; the default is {result['default']}" if result["default"] else ""
    return text


def print_result(value: Any, as_json: bool, render: Callable[[Any], str]) -> None:
    print(json.dumps(redact_data(value), indent=2, ensure_ascii=False) if as_json else redact(render(value)))


def _table(rows: list[list[str]]) -> str:
    if not rows:
        return "(none)"
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows
    )


async def run(args: argparse.Namespace) -> int:
    backend = load_backend(args.settings)
    try:
        return await dispatch(backend, args)
    finally:
        await backend.aclose()


async def dispatch(backend: Backend, args: argparse.Namespace) -> int:
    as_json: bool = args.json
    if args.command == "keys":
        if args.keys_command == "set":
            result = await backend.set_key(args.provider, args.secret)
            print_result(result, as_json, _render_stored)
        elif args.keys_command == "bind":
            route, stored, question = await backend.prepare_bind(args.provider, args.endpoint)
            if not confirm_on_terminal(question):
                raise ByokError(
                    ErrorCode.BIND_NOT_CONFIRMED,
                    "The route was not confirmed; nothing was bound",
                    provider=args.provider,
                    fix=f"Run `byok keys bind {args.provider}` in an interactive terminal and answer y",
                )
            result = await backend.bind_key(args.provider, route, stored)
            print_result(result, as_json, lambda r: f"Bound {r['provider']} to {_route_text(r['route'])}")
        elif args.keys_command == "delete":
            result = await backend.delete_key(args.provider)
            print_result(result, as_json, lambda r: "Deleted" if r["deleted"] else "No stored key")
        else:
            keys = await backend.list_keys()
            print_result(
                keys, as_json, lambda ks: _table([[k["provider"], k["fingerprint"], k["source"]] for k in ks])
            )
        return 0
    if args.command == "verify":
        result = await backend.verify(args.provider)
        print_result(result, as_json, _render_verify)
        return 0 if result["ok"] else EXIT_FAILED
    if args.command == "models":
        print_result(await backend.model_list(), as_json, _render_models)
        return 0
    if args.command == "status":
        print_result(await backend.status(), as_json, _render_status)
        return 0
    if args.command == "usage":
        await backend.settled()
        summary = await asyncio.to_thread(
            backend.ledger.summary, args.month, args.group_by, backend.settings.budget
        )
        daily = None
        if not as_json:
            daily = await asyncio.to_thread(
                backend.ledger.summary, summary["month"], "day", backend.settings.budget
            )
        print_result(summary, as_json, lambda s: _render_usage(s, daily))
        return 0
    if args.command == "approvals":
        print_result(await _approvals(backend, args), as_json, _render_approvals)
        return 0
    if args.command == "chat":
        params = ChatParams.model_validate(
            {
                "messages": [{"role": "user", "content": args.prompt}],
                "model": args.model,
                "files": args.file_uris,
                "reasoning": {"effort": args.reasoning} if args.reasoning else None,
            }
        )
        # The user named each file in their own shell: its folder is the jail; secrets, /proc and such stay out.
        jail = FileJail({uri_to_path(uri).parent for uri in params.files})
        sink = TerminalSink(quiet=as_json)
        try:
            result = await chat(backend, params, sink, jail, rules_roots=[args.workspace])
        finally:
            sink.close()
        if as_json:
            print(redact(json.dumps(result, indent=2, ensure_ascii=False)))
        else:
            usage = result["usage"]
            assert isinstance(usage, dict)
            print(
                f"\n[{result['model']} via {result['provider']}: {usage['inputTokens']} in"
                f"{_cache_note(usage)} / {usage['outputTokens']} out"
                f"{' (estimated)' if usage['estimated'] else ''}]",
                file=sys.stderr,
            )
        return 0
    if args.command == "rules":
        print_result(await rules_status(backend, [args.workspace]), as_json, _render_rules)
        return 0
    raise AssertionError(args.command)


async def _approvals(backend: Backend, args: argparse.Namespace) -> dict[str, Any]:
    """`byok approvals`: what is remembered, per scope; with `--forget`, forget it first."""
    approvals = backend.approvals
    scopes = [GLOBAL_SCOPE, workspace_scope(args.workspace)] if args.workspace else None
    result: dict[str, Any] = {}
    if args.forget:
        result["forgotten"] = await asyncio.to_thread(
            approvals.forget_workspace if args.workspace else approvals.forget, args.workspace
        )
    listed = scopes if scopes is not None else await asyncio.to_thread(approvals.scopes)
    result["scopes"] = {scope: await asyncio.to_thread(approvals.remembered, scope) for scope in listed}
    return result


def _render_approvals(result: dict[str, Any]) -> str:
    lines = [f"Forgot {result['forgotten']} approval(s)"] if "forgotten" in result else []
    remembered = {scope: keys for scope, keys in result["scopes"].items() if keys}
    for scope, keys in remembered.items():
        lines.append(f"{scope}:")
        lines += [f"  {key}" for key in keys]
    if not remembered:
        lines.append("No approvals are remembered")
    return "\n".join(lines)


def _render_verify(result: dict[str, Any]) -> str:
    if result["ok"]:
        shown = ", ".join(result["models"][:8]) + (" …" if len(result["models"]) > 8 else "")
        return f"OK: {result['provider']} key {result['fingerprint']} works ({len(result['models'])} models: {shown})"
    error = result["error"]
    return f"FAILED: {error['message']}\n  cause: {error['cause']}\n  fix:   {error['fix']}"


def _usd(value: float | None) -> str:
    return "unknown" if value is None else f"${value:,.4f}"


def _cache_note(usage: dict[str, Any]) -> str:
    """ " (N from cache, M written to it)" for a request that used the prompt cache, else ""."""
    parts = [f"{usage['cacheReadTokens']} from cache"] if usage["cacheReadTokens"] else []
    parts += [f"{usage['cacheWriteTokens']} written to it"] if usage["cacheWriteTokens"] else []
    return f" ({', '.join(parts)})" if parts else ""


def _render_usage(summary: dict[str, Any], daily: dict[str, Any] | None) -> str:
    rows = [["", "requests", "input", "cache read", "cache write", "output", "cost", "saved"]]
    for row in summary["rows"]:
        cost = (
            _usd(row["costUsd"])
            + (" *" if row["unknownCostRequests"] else "")
            + (" ~" if row["estimated"] else "")
        )
        rows.append(
            [
                str(row["key"]),
                str(row["requests"]),
                str(row["inputTokens"]),
                str(row["cacheReadTokens"]),
                str(row["cacheWriteTokens"]),
                str(row["outputTokens"]),
                cost,
                _usd(row["savedUsd"]),
            ]
        )
    lines = [f"byok usage for {summary['month']}", _table(rows) if summary["rows"] else "(no requests)"]
    budget = summary["budgetUsd"]
    total = f"total {_usd(summary['totalUsd'])}"
    if budget is not None:
        total += f" of {_usd(budget)} (remaining {_usd(summary['remainingUsd'])})"
    if summary["savedUsd"] is not None:
        total += f"; prompt caching saved {_usd(summary['savedUsd'])}"
    lines.append(total)
    if summary["unknownCostRequests"]:
        lines.append(f"* {summary['unknownCostRequests']} request(s) have no known price (set byok.prices)")
    if daily and daily["rows"]:
        lines.append("per day:")
        peak = max((row["costUsd"] or 0.0) for row in daily["rows"]) or 1.0
        for row in daily["rows"]:
            bar = "█" * max(1 if row["costUsd"] else 0, round(30 * (row["costUsd"] or 0.0) / peak))
            lines.append(f"  {row['key']}  {bar:<30} {_usd(row['costUsd'])}")
    lines.append("~ = some token counts estimated (the provider reported none)")
    return "\n".join(lines)


def _render_models(models: list[dict[str, Any]]) -> str:
    def tokens(value: int | None) -> str:
        return f"{value:,}" if value else "?"

    rows = [["model", "provider", "context", "max output", "key"]]
    rows += [
        [
            m["id"],
            m["provider"],
            tokens(m["contextWindow"]),
            tokens(m["maxOutputTokens"]),
            "yes" if m["hasKey"] else "no",
        ]
        for m in models
    ]
    return _table(rows)


def _render_reasoning(reasoning: dict[str, Any] | None) -> str:
    """`  reasoning: high (24576-token budget)`, and the note when the asked value was fitted."""
    if not reasoning:
        return ""
    effort = reasoning["effort"] or "not sent"
    budget = f" ({reasoning['budgetTokens']}-token budget)" if reasoning["budgetTokens"] else ""
    note = f"; {reasoning['note']}" if reasoning.get("note") else ""
    return f"  reasoning: {effort}{budget}{note}"


def _render_status(status: dict[str, Any]) -> str:
    lines = [f"byok {status['version']}"]
    if status["localServer"]:
        lines.append(status["localServer"]["summary"])
    for feature, info in status["features"].items():
        if info.get("error"):
            lines.append(f"  {feature:<11} (none): {info['error']['message']}. {info['error']['fix']}")
            continue
        where = "built-in" if info["builtin"] else info["provider"]
        lines.append(f"  {feature:<11} {info['model']}  [{where}]{_render_reasoning(info.get('reasoning'))}")
    lines.append("keys:")
    lines += [f"  {k['provider']:<11} {k['fingerprint']}  ({k['source']})" for k in status["keys"]] or [
        "  (none)"
    ]
    return "\n".join(lines)


def _render_rules(status: dict[str, Any]) -> str:
    if not status["enabled"]:
        return "Project rules are off (rules.enabled is false)"
    lines = [f"rules in force: {status['bytes']:,} of {status['maxBytes']:,} bytes sent to every request"]
    for entry in status["files"]:
        applies = entry["appliesTo"]
        scope = applies if isinstance(applies, str) else "files matching " + ", ".join(applies)
        if entry.get("omitted"):
            scope += "; LEFT OUT (over rules.maxBytes)"
        elif entry.get("truncated"):
            scope += "; CUT (over rules.maxBytes)"
        lines.append(f"  {entry['path']}  {entry['bytes']:,} bytes  [{entry['kind']}: {scope}]")
    if not status["files"]:
        lines.append("  (no rules files)")
    lines += [f"refused: {r['path']}: {r['reason']}" for r in status["refused"]]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="byok", description="Bring-your-own-key AI backend: headless CLI")
    parser.add_argument("--version", action="version", version=f"byok {__version__}")
    parser.add_argument(
        "--settings", type=Path, help="settings JSON file (default: $BYOK_SETTINGS or the user config dir)"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    commands = parser.add_subparsers(dest="command", required=True)
    keys = commands.add_parser("keys", help="store, list and delete API keys (in the OS keychain)")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    key_commands.add_parser("set", help="store a key, read from a hidden prompt or stdin").add_argument(
        "provider"
    )
    bind = key_commands.add_parser(
        "bind", help="allow a key to go over the configured route (endpoint, proxy, CA); asks y/N"
    )
    bind.add_argument("provider")
    bind.add_argument("--endpoint", help="refuse unless this is the configured endpoint")
    key_commands.add_parser("delete", help="delete a stored key").add_argument("provider")
    key_commands.add_parser("list", help="list keys and where they come from")
    commands.add_parser("verify", help="check a provider key and list its models").add_argument("provider")
    commands.add_parser("models", help="list known models")
    commands.add_parser("status", help="which model serves each feature, and which keys exist")
    usage = commands.add_parser("usage", help="what byok requests cost this month, with a per-day chart")
    usage.add_argument("--month", help="YYYY-MM (default: this month)")
    usage.add_argument("--group-by", choices=["model", "provider", "feature", "day"], default="model")
    commands.add_parser(
        "acp", help="run byok as an ACP agent on stdin/stdout (Zed, JetBrains, CodeCompanion, agent-shell)"
    )
    approvals = commands.add_parser(
        "approvals",
        help='what "Always allow" remembered (commands, MCP tools and servers); --forget clears it',
    )
    approvals.add_argument("--forget", action="store_true", help="forget the remembered approvals")
    approvals.add_argument(
        "--workspace",
        type=lambda text: Path(text).resolve(),
        help="only this workspace folder's approvals and the global ones (default: every workspace)",
    )
    chat_parser = commands.add_parser("chat", help="stream an answer to stdout")
    chat_parser.add_argument("prompt")
    chat_parser.add_argument("--model")
    chat_parser.add_argument(
        "--reasoning",
        choices=list(REASONING_EFFORTS),
        help="how hard the model should think (fitted to what the model takes)",
    )
    chat_parser.add_argument(
        "--file", action="append", default=[], help="a file to send as context (repeatable)"
    )
    commands.add_parser(
        "rules", help="the project rules files in force (AGENTS.md, CLAUDE.md, .cursor/rules ...)"
    )
    for command in (chat_parser, commands.choices["rules"]):
        command.add_argument(
            "--workspace",
            type=Path,
            default=Path.cwd(),
            help="the workspace whose rules files apply (default: the current directory)",
        )
    return parser


def serve_acp(settings: Path | None) -> None:
    """`byok acp`: the ACP agent on stdio, with the CLI's settings file; exits when stdin closes."""
    from byok.acp.stdio import serve

    log_to_stderr()
    try:
        asyncio.run(serve(load_backend(settings)))
    except KeyboardInterrupt:
        sys.exit(130)


def acp_main() -> None:
    """The `byok-acp` entry point: `byok acp` for editors that take a bare command."""
    parser = argparse.ArgumentParser(prog="byok-acp", description="byok as an ACP agent on stdin/stdout")
    parser.add_argument("--version", action="version", version=f"byok {__version__}")
    parser.add_argument(
        "--settings", type=Path, help="settings JSON file (default: $BYOK_SETTINGS or the user config dir)"
    )
    serve_acp(parser.parse_args().settings)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.command == "acp":
        serve_acp(args.settings)
        return
    log_to_stderr(logging.WARNING)
    if args.command == "keys" and args.keys_command == "set":
        args.secret = read_secret(args.provider)
    if args.command == "chat":
        args.file_uris = [Path(f).resolve().as_uri() for f in args.file]
    try:
        code = asyncio.run(run(args))
    except ByokError as exc:
        if args.json:
            print(json.dumps({"error": redact_data(exc.to_data())}, indent=2), file=sys.stdout)
        print(redact(f"byok: {exc.message}\n  cause: {exc.cause}\n  fix:   {exc.fix}"), file=sys.stderr)
        code = EXIT_FAILED
    except (ValidationError, ValueError) as exc:
        print(redact(f"byok: invalid input: {exc}"), file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
