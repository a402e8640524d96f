"""Meta-tests for the lint rules: every rule has data, a check, docs, and fixtures where it must
fire and where it must stay silent; fixes (unified diffs) apply and silence the finding."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import FIXTURES_DIR, ROOT_DIR
from why502.analyzers.lint import Input, LintFacts, LintFinding, LintSpec, load_rules, run_lint
from why502.analyzers.lint.fpm import parse_pools
from why502.analyzers.lint.registry import registered
from why502.catalog.lint_rules import rule_page
from why502.proxies import DEFAULT, PROXIES, long_title
from why502.proxies import detect_text as detect_kind
from why502.proxies.base import resolve
from why502.proxies.nginx.config import parse_nginx, parse_size

FIXTURES = FIXTURES_DIR / "lint"
ROOT = ROOT_DIR
DOCS = ROOT / "docs" / "lint"
LINT_DOCS = ROOT / "scripts" / "lint_docs.py"


def fixture_input(path: Path) -> Input:
    """Parse a fixture (any registered proxy's, told by its content; nginx's read as a file
    alone): its ``# why502-lint: key=value`` header gives the optional inputs, a sibling
    ``<stem>.fpm.conf`` the PHP-FPM pools; the proxy's lint plug-in (``Hooks.lint_input``)
    builds the input from them, as ``app.lint`` does."""
    opts: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.startswith("# why502-lint:"):
            for item in line.split(":", 1)[1].split():
                key, _, value = item.partition("=")
                opts[key] = value
    fpm = path.with_name(path.stem + ".fpm.conf")
    kind = detect_kind(path.read_text()) or DEFAULT
    hooks = PROXIES[kind].hooks
    if kind == "caddy" and shutil.which("caddy") is None:
        pytest.skip("a Caddyfile is read through caddy adapt: caddy is not installed")
    spec = resolve(hooks.lint_input)
    assert isinstance(spec, LintSpec)
    facts = LintFacts(
        pools=tuple(parse_pools(fpm.read_text(), str(fpm))) if fpm.exists() else (),
        header_bytes=int(opts["header_bytes"]) if "header_bytes" in opts else None,
        backend_timeout=float(opts["backend_timeout"]) if "backend_timeout" in opts else None,
        backend_keepalive=float(opts["backend_keepalive"]) if "backend_keepalive" in opts else None,
        somaxconn=int(opts["somaxconn"]) if "somaxconn" in opts else None,
        mem_total=parse_size(opts["mem_total"]) if "mem_total" in opts else None,
        nofile=int(opts["nofile"]) if "nofile" in opts else None,
        groups=tuple(opts["nginx_groups"].split(",")) if "nginx_groups" in opts else (),
        concurrency=int(opts["concurrency"]) if "concurrency" in opts else None,
    )
    config = parse_nginx(path) if kind == DEFAULT else resolve(hooks.load_config)(str(path))  # type: ignore[operator]
    return spec.build(config, facts)


def fixtures(kind: str) -> list[tuple[str, Path]]:
    """``fire``/``silent`` fixtures: ``*.conf`` (nginx, Apache httpd), ``*.cfg`` (HAProxy),
    ``*.yaml`` (Envoy)."""
    out = []
    for code in sorted(load_rules()):
        for p in sorted((FIXTURES / code).glob(f"{kind}*")):
            if p.suffix in (".conf", ".cfg", ".yaml") and not p.name.endswith(".fpm.conf"):
                out.append((code, p))
    return out


def test_every_rule_has_data_check_and_fixtures() -> None:
    rules = load_rules()
    assert list(rules) == list(registered()), "lint_rules.toml and the @rule checks must list the same codes"
    names = [r.name for r in rules.values()]
    assert len(set(names)) == len(names)
    for code, rule in rules.items():
        assert rule.what and rule.why and rule.confirm and rule.example and rule.fix and rule.references
        fire = [p for c, p in fixtures("fire") if c == code]
        silent = [p for c, p in fixtures("silent") if c == code]
        assert fire, f"{code} has no tests/fixtures/lint/{code}/fire*.conf"
        assert silent, f"{code} has no tests/fixtures/lint/{code}/silent*.conf"
        for p in fire + silent:
            assert (detect_kind(p.read_text()) or "nginx") == rule.proxy, (
                f"{p.name} is not a {rule.proxy} config (the proxy of {code})")
    assert {p.name for p in FIXTURES.iterdir()} == set(rules), "fixture folders without a rule"


@pytest.mark.parametrize(("code", "path"), fixtures("fire"), ids=lambda v: getattr(v, "name", v))
def test_rule_fires(code: str, path: Path) -> None:
    found = [f for f in run_lint(fixture_input(path), {code}) if f.code == code]
    assert found, f"{code} did not fire on {path.name}"
    for f in found:
        assert f.file and f.line and f.line > 0, f
        assert Path(f.file).exists(), f
        assert f.message


@pytest.mark.parametrize(("code", "path"), fixtures("silent"), ids=lambda v: getattr(v, "name", v))
def test_rule_stays_silent(code: str, path: Path) -> None:
    found = [f for f in run_lint(fixture_input(path), {code}) if f.code == code]
    assert not found, f"{code} fired on {path.name}: {found}"


def with_diffs() -> list[tuple[str, Path]]:
    out = []
    for code, path in fixtures("fire"):
        if any(f.diff for f in run_lint(fixture_input(path), {code}) if f.code == code):
            out.append((code, path))
    return out


@pytest.mark.parametrize(("code", "path"), with_diffs(), ids=lambda v: getattr(v, "name", v))
def test_fix_diff_applies_and_silences(code: str, path: Path, tmp_path: Path) -> None:
    """Apply each finding's diff with the real `patch` and lint again: the finding must go away."""
    work = tmp_path / "conf"
    shutil.copytree(path.parent, work)
    target = work / path.name
    findings: list[LintFinding] = [f for f in run_lint(fixture_input(target), {code}) if f.code == code]
    patched = 0
    for f in findings:
        if not f.diff:
            continue
        # the diff labels are a/<abs path> b/<abs path>; strip everything up to the file name
        depth = len(Path(str(f.file).lstrip("/")).parts) - 1
        subprocess.run(["patch", f"-p{depth + 1}", "-s", "-i", "-", str(target)], input=f.diff, text=True,
                       check=True, cwd=work)
        patched += 1
        break  # line numbers of later findings moved; re-lint instead
    assert patched
    after = [f for f in run_lint(fixture_input(target), {code}) if f.code == code]
    assert len(after) < len(findings), f"{code}: the fix did not remove the finding ({after})"


def test_docs_pages_are_current() -> None:
    res = subprocess.run([sys.executable, str(LINT_DOCS), "pages", str(DOCS), "--check"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert res.returncode == 0, f"docs/lint is stale: run scripts/lint-docs pages docs/lint\n{res.stderr}"
    for code, rule in load_rules().items():
        text = rule_page(rule, long_title(rule.proxy))
        assert (DOCS / f"{code}.md").read_text() == text
        for section in ("## What it means", "## Why it causes 502 or 504", "## How to confirm",
                        "## Example", "## Fix", "## References"):
            assert section in text


def test_corpus_results_are_current() -> None:
    """docs/lint/corpus-results.md is generated; every corpus config lints without a crash and
    every rule has a judgement (the script's --check fails otherwise)."""
    corpus = FIXTURES_DIR / "corpus" / "nginx-configs"
    res = subprocess.run([sys.executable, str(LINT_DOCS), "corpus", str(corpus),
                          str(DOCS / "corpus-results.md"), "--check"],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert "crashed:" not in res.stderr, res.stderr
    assert res.returncode == 0, (
        "docs/lint/corpus-results.md is stale: scripts/lint-docs corpus CORPUS_DIR "
        f"docs/lint/corpus-results.md\n{res.stderr}")
    assert " 0 crashed." in (DOCS / "corpus-results.md").read_text()


@pytest.mark.parametrize("path", [p for _c, p in fixtures("fire") + fixtures("silent")], ids=lambda p: p.name)
def test_declared_directives_are_needed(path: Path) -> None:
    """``run_lint`` skips a check when the config has none of the directives it declares
    (``@rule(code, directives=...)``).  Run every check directly on every fixture: wherever one
    finds something, the config has one of its directives, so the skip never hides a finding."""
    inp = fixture_input(path)
    present = inp.directive_names()
    rules = load_rules()
    for code, check in registered().items():
        if check.proxy != inp.proxy:
            continue
        if check.directives and check.func(inp, rules[code]):
            assert check.directives & present, (
                f"{code} finds something in {path.name} without any of {sorted(check.directives)}")
