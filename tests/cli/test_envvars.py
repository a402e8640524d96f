"""Every ``WHY502_*`` environment variable named in ``src/`` is documented in the man page and in
``why502 --help``'s epilog (issue 31, item 7: the man page documented 1 of 8)."""

from __future__ import annotations

import re

from tests.support.clirun import why502
from tests.support.paths import ROOT_DIR
from why502.envvars import ENVIRONMENT

NAME = re.compile(r"WHY502_[A-Z0-9_]*[A-Z0-9]")
# a variable read under a computed name (lab.runtime.machine.find_program: ``WHY502_<NAME>``)
COMPUTED = {"WHY502_NGINX", "WHY502_HAPROXY", "WHY502_APACHE2"}


def _names_in_src() -> set[str]:
    found: set[str] = set()
    for path in (ROOT_DIR / "src" / "why502").rglob("*"):
        if path.suffix in (".py", ".c", ".toml", ".json", ".md") and path.is_file():
            found |= set(NAME.findall(path.read_text(encoding="utf-8", errors="replace")))
    # a prefix written in prose (``WHY502_MAX_*``) stands for the names it begins
    return {n for n in found if not any(o != n and o.startswith(n + "_") for o in found | set(ENVIRONMENT))}


def test_every_name_in_src_is_in_the_registry() -> None:
    names = _names_in_src()
    assert len(names) >= 8, names  # the scan sees them (a scan that finds nothing proves nothing)
    missing = sorted(names - set(ENVIRONMENT))
    assert not missing, f"WHY502_* variables read in src/ but not in why502.envvars.ENVIRONMENT: {missing}"
    assert set(ENVIRONMENT) >= COMPUTED


def test_every_variable_is_in_the_man_page_and_the_help() -> None:
    man = why502("completion", "man")
    help_ = why502("--help")
    assert man.returncode == 0 and help_.returncode == 0
    for name in sorted(_names_in_src() | set(ENVIRONMENT)):
        assert f"\\fB{name}\\fR" in man.stdout, f"{name} missing from the man page's ENVIRONMENT"
        assert f"\n  {name}\n" in help_.stdout, f"{name} missing from why502 --help"
