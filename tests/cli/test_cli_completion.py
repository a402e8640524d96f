"""`why502 completion bash|zsh|fish|man`: generated from the argument parser, checked by the real
shells and the real man-page formatter.

bash is always there; zsh, fish and groff are Debian packages that ``scripts/test`` installs when
they are missing, so their checks skip only when the program itself is absent.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

import pytest

from why502.cli.main import COMMANDS, build_parser, main


def generate(shell: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["completion", shell]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


def lint_options() -> list[str]:
    """Every long option of `why502 lint`, read from the parser the scripts are made from."""
    parser, _ = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [o for a in sub.choices["lint"]._actions for o in a.option_strings if o.startswith("--")]


def bash_complete(script: Path, line: str) -> list[str]:
    """What bash offers for ``line`` (the cursor at its end), through the generated function."""
    words = line.split(" ")
    prog = f"""
source {script}
spec=$(complete -p why502) || exit 3
fn=${{spec##*-F }}; fn=${{fn%% *}}
COMP_LINE={line!r}; COMP_POINT=${{#COMP_LINE}}
COMP_WORDS=({" ".join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}
"$fn" why502 {words[-1]!r} {words[-2]!r}
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    res = subprocess.run(["bash", "--norc", "--noprofile", "-c", prog], capture_output=True, text=True,
                         timeout=30)
    assert res.returncode == 0, res.stderr
    return [w for w in res.stdout.splitlines() if w]


def test_bash_script_parses_and_completes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "why502.bash"
    script.write_text(generate("bash", capsys))
    subprocess.run(["bash", "-n", str(script)], check=True)
    assert bash_complete(script, "why502 ") == list(COMMANDS)
    assert bash_complete(script, "why502 li") == ["lint"]
    assert bash_complete(script, "why502 lint --format ") == ["text", "json", "sarif"]
    offered = bash_complete(script, "why502 lint --")
    assert set(lint_options()) <= set(offered)
    assert "--nginx-conf" in bash_complete(script, "why502 diagnose --ng")
    assert bash_complete(script, "why502 lab ") == ["list", "run", "check", "matrix"]


def test_zsh_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = generate("zsh", capsys)
    assert text.startswith("#compdef why502")
    for name in COMMANDS:
        assert f"{name}:" in text or f'"{name}' in text, name
    assert all(opt in text for opt in lint_options())
    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed (scripts/test installs it)")
    script = tmp_path / "_why502"
    script.write_text(text)
    subprocess.run(["zsh", "-n", str(script)], check=True)


def test_fish_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = generate("fish", capsys)
    for name in COMMANDS:
        assert f"-a '{name}'" in text, name
    assert all(f"-l {opt[2:]}" in text for opt in lint_options())
    if shutil.which("fish") is None:
        pytest.skip("fish is not installed (scripts/test installs it)")
    script = tmp_path / "why502.fish"
    script.write_text(text)
    subprocess.run(["fish", "--no-config", "-n", str(script)], check=True)

    def offered(line: str) -> list[str]:
        res = subprocess.run(["fish", "--no-config", "-c", f"source {script}; complete -C {line!r}"],
                             capture_output=True, text=True, timeout=30, check=True)
        return [row.split("\t")[0] for row in res.stdout.splitlines()]

    assert "lint" in offered("why502 li")
    assert offered("why502 lint --format ") == ["json", "sarif", "text"]  # fish sorts
    assert set(offered("why502 lab ")) >= {"list", "run", "check"}


def test_man_page_renders(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    text = generate("man", capsys)
    assert text.startswith('.TH WHY502 "1" "2023\\-11\\-14" "why502 ')
    for section in (".SH NAME", ".SH SYNOPSIS", ".SH DESCRIPTION", ".SH EXIT STATUS", ".SH SEE ALSO"):
        assert section in text
    for name in COMMANDS:
        assert f"'why502 {name}'" in text, name
    if shutil.which("groff") is None:
        pytest.skip("groff is not installed (scripts/test installs groff-base)")
    page = tmp_path / "why502.1"
    page.write_text(text)
    res = subprocess.run(["groff", "-man", "-Tutf8", "-P-cbou", "-ww", str(page)], capture_output=True,
                         text=True, timeout=30, env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"})
    assert res.returncode == 0 and res.stderr == "", res.stderr
    rendered = res.stdout
    assert "EXIT STATUS" in rendered and "why502 lint" in rendered and "--fail-on" in rendered


def test_unknown_shell_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["completion", "tcsh"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
