"""The repository stands alone: nothing in it names a file outside it, its documents link only
to files it has, and the data it borrowed from other projects says where from and under which
licence."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.paths import ROOT_DIR

ROOT = ROOT_DIR
CORPUS = ROOT / "tests" / "fixtures" / "corpus"
SKIP_DIRS = {".git", ".venv", "build", "dist", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}

# written in pieces so that this file does not match itself
OUTSIDE = [
    "/" + "work/",          # the build machine's tree
    "../" + "shared",       # the folder that sat beside the checkout
    "shared/" + "causes.md", "shared/" + "reference/", "shared/" + "corpus/", "shared/" + "schemas/",
    "DESIGN" + ".md",       # a design text that is not in the repository (docs/architecture.md is)
]


def repo_files() -> list[Path]:
    """The committed files (``git ls-files``), or every file of an unpacked sdist."""
    if (ROOT / ".git").exists():
        res = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=True)
        return [ROOT / name for name in res.stdout.decode().split("\0") if name]
    out = []
    for base, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")
                   and not (Path(base) / d).match("bench/out")]
        out += [Path(base) / f for f in files]
    return out


def test_no_file_names_a_path_outside_the_repository() -> None:
    offenders = []
    for path in repo_files():
        if not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data[:4096]:
            continue  # binary
        text = data.decode("utf-8", "replace")
        for needle in OUTSIDE:
            for m in re.finditer(re.escape(needle), text):
                line = text.count("\n", 0, m.start()) + 1
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {needle}")
    assert not offenders, "\n".join(offenders)


README_MAX_LINES = 250  # issue 23: "a front door, not a manual"


def markdown_documents() -> list[Path]:
    """Every document a reader follows links in: the top-level pages, everything under docs/
    (guides, proxies, limits, architecture, generated cause and lint pages), the bench and
    fixture READMEs."""
    docs = [ROOT / n for n in ("README.md", "CONTRIBUTING.md", "BENCHMARKS.md", "CHANGELOG.md")]
    docs += [ROOT / "bench" / "README.md"]
    docs += sorted((ROOT / "docs").rglob("*.md"))
    docs += sorted((ROOT / "tests" / "fixtures").glob("*/README.md"))
    docs += sorted((ROOT / "tests" / "fixtures").glob("*/*/README.md"))
    return docs


def heading_anchors(doc: Path) -> set[str]:
    """The anchors GitHub gives a Markdown file's headings: lowercased, punctuation but ``-`` and
    ``_`` dropped, spaces made ``-`` (cmark-gfm's anchor filter as github.com applies it; a
    repeated heading gets ``-1``, ``-2``, ...).  Lines inside fenced code are not headings."""
    seen: dict[str, int] = {}
    out = set()
    fence = ""
    for line in doc.read_text(encoding="utf-8").splitlines():
        opening = re.match(r"(`{3,})", line)
        if opening and (not fence or opening.group(1).startswith(fence)):
            fence = "" if fence else opening.group(1)
            continue
        heading = None if fence else re.match(r"#{1,6} +(.+?) *$", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).lower()).replace(" ", "-")
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            out.add(slug if n == 0 else f"{slug}-{n}")
    return out


@pytest.mark.parametrize("doc", markdown_documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path) -> None:
    """Every link to a local file resolves to a file of the repository, and a link to a heading
    of a Markdown file (``guide/watch.md#metrics-and-alerting``) names a heading it has."""
    assert doc.is_file(), doc
    text = re.sub(r"```.*?```", "", doc.read_text(encoding="utf-8"), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        path = (doc.parent / file).resolve() if file else doc.resolve()
        assert path.exists(), f"{doc.relative_to(ROOT)} links to {target}, which does not exist"
        assert ROOT in path.parents or path == ROOT, f"{doc.relative_to(ROOT)} links outside: {target}"
        if anchor and path.suffix == ".md":
            assert anchor in heading_anchors(path), \
                f"{doc.relative_to(ROOT)} links to {target}: {path.name} has no such heading"
    assert "<!-- section:" not in text and "<!-- bench:" not in text


def test_readme_is_a_front_door() -> None:
    """The README stays a front door: what it is, the two commands, one screen per command and
    a table of contents; the details live in docs/guide/, docs/proxies/ and docs/limits.md."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = readme.count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines (at most {README_MAX_LINES})"
    for page in ("docs/guide/README.md", "docs/proxies/README.md", "docs/limits.md"):
        assert f"]({page})" in readme, f"README.md does not link {page}"
    for command in ("diagnose", "classify", "explain", "stats", "lint", "fix", "watch", "fleet", "lab"):
        assert f"](docs/guide/{command}.md)" in readme, f"README.md does not link docs/guide/{command}.md"


README_DEMO = "$ why502 diagnose --demo"


def test_readme_demo_sample_is_what_the_command_prints() -> None:
    """The README's ``diagnose --demo`` sample is the real output of ``why502 diagnose --demo
    --width 80`` (issue 31: it showed the old layout), trailing spaces aside; the README teaches
    ``--config`` (not ``--nginx-conf``) and no longer says watch is nginx only."""
    from tests.support.clirun import why502

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index(README_DEMO)
    block = readme[start:readme.index("```", start)].splitlines()[1:]
    res = why502("diagnose", "--demo", "--width", "80")
    assert res.returncode == 1, res.stderr
    printed = [line.rstrip() for line in res.stdout.rstrip("\n").splitlines()]
    assert [line.rstrip() for line in block] == printed
    assert "--nginx-conf" not in readme and "nginx only, today" not in readme


def test_every_corpus_entry_has_its_source_and_an_open_licence() -> None:
    configs = CORPUS / "nginx-configs"
    readme = (configs / "README.md").read_text(encoding="utf-8")
    listed = dict(re.findall(r"^- `([^`]+)` — .*? — licence: ([^—]+) —", readme, re.M))
    present = {p.name + ("/" if p.is_dir() else "") for p in configs.iterdir() if p.name != "README.md"}
    assert present == set(listed), (present ^ set(listed))
    assert len(present) >= 50
    for name, licence in listed.items():
        assert not re.search(r"not (stated|checked)|unknown", licence, re.I), (name, licence)
    # every licence text named exists, and every text in LICENSES/ is named (by this corpus or by
    # lint's held-out set, whose README says where each file comes from)
    held_out = (CORPUS / "held-out" / "README.md").read_text(encoding="utf-8")
    texts = set(re.findall(r"\(\.\./LICENSES/([^)]+)\)", readme + held_out))
    assert texts == {p.name for p in (CORPUS / "LICENSES").iterdir()}
    # each entry's source: repository and a 40-hex commit
    for line in readme.splitlines():
        if line.startswith("- `") and " — licence: " in line:
            assert re.search(r"[0-9a-f]{40}|`[0-9a-f]{12}`", line), line


def test_sarif_schema_is_the_documented_file() -> None:
    schema = ROOT / "tests" / "fixtures" / "schemas" / "sarif-2.1.0.json"
    readme = (schema.parent / "README.md").read_text(encoding="utf-8")
    digest = hashlib.sha256(schema.read_bytes()).hexdigest()
    assert digest in readme, "the schema changed: update its provenance in tests/fixtures/schemas/README.md"
    assert "oasis-tcs/sarif-spec" in readme
