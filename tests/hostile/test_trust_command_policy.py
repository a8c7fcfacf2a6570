"""Command-policy bypasses a hostile review found (an allow pattern covering a command /bin/sh runs differently)."""

from byok.workspace.command_policy import Verdict, decide, parse_command


def test_hash_after_substitution_is_not_a_comment() -> None:
    # sh: `$(pytest --version)#` is ONE word (`#` starts a comment only at a word start), so
    # `touch pwned` runs. The scanner treats `#` after the substitution's `)` as a comment and
    # drops the rest, so `pytest*` allows the whole line.
    command = "pytest $(pytest --version)#; touch pwned"
    assert decide(command, ["pytest*"], []).verdict is not Verdict.ALLOW
    assert any(part.program == "touch" for part in parse_command(command).parts)


def test_hash_after_substitution_does_not_hide_a_denied_command() -> None:
    assert decide("pytest $(pytest)#; rm -rf ~", ["pytest*"], ["rm*"]).verdict is Verdict.DENY


def test_ansi_c_quote_is_not_read_as_an_ordinary_single_quote() -> None:
    # bash (and macOS /bin/sh, which is bash) reads $'\'' as one quoted `'`, so `touch pwned` runs;
    # the scanner reads `'\'` then a single-quoted string to the end, and allows it all.
    command = "pytest $'\\'' ; touch pwned ; '"
    assert decide(command, ["pytest*"], []).verdict is not Verdict.ALLOW


def test_shell_with_combined_c_flag_is_followed_for_deny() -> None:
    # `bash -ec 'rm -rf ~'` runs rm; deny patterns must see it as they do for `bash -c`.
    assert decide("bash -ec 'rm -rf ~'", [], ["rm*"]).verdict is Verdict.DENY
    assert decide("sh -xc 'rm -rf ~'", [], ["rm*"]).verdict is Verdict.DENY


def test_wrapped_shell_c_string_is_followed_for_deny() -> None:
    # `env sh -c 'echo a; rm -rf ~'`: the wrapper hides the shell, its string is not split at `;`.
    assert decide("env sh -c 'echo a; rm -rf ~'", [], ["rm*"]).verdict is Verdict.DENY


def test_redirection_to_a_file_named_by_digits_or_dash_is_a_hazard() -> None:
    # `>1` and `> -` write files named `1` and `-` (only `>&1` / `>&-` are descriptors);
    # the safe-target regex takes them for descriptors, so `pytest*` allows a file write.
    assert decide("pytest >1", ["pytest*"], []).verdict is not Verdict.ALLOW
    assert decide("pytest > -", ["pytest*"], []).verdict is not Verdict.ALLOW
