"""Inline suppressions: a ``# why502: ignore`` comment in the config silences lint findings.

``# why502: ignore W502-007`` (codes or rule names, separated by spaces or commas) silences
those rules, a bare ``# why502: ignore`` every rule.  The comment counts on the line a finding
points at (after the directive) or alone on the line just above it; the list of rules ends at
the first word that is neither a code nor a rule name, so a reason may follow
(``# why502: ignore W502-007 one backend by design``).  nginx ignores everything after ``#``
outside quotes (``ngx_conf_read_token()`` in ``src/core/ngx_conf_file.c``), so the comment
changes nothing for nginx.  HAProxy reads ``#`` to the end of the line as a comment outside quotes
(configuration.txt 2.2), so both places work there too; Apache httpd only knows whole-line
comments (a ``#`` after a directive is an argument: core.html "Configuration Files"), so in an
Apache config the comment goes alone on the line above.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from why502.catalog.lint_rules import find_rule
from why502.findings.lint import LintFinding
from why502.findings.patch import split_lines
from why502.textutil import strip_comment

_MARK = re.compile(r"why502:\s*ignore\b(?P<rest>.*)$")
ALL = "*"


def ignored_on(line: str) -> frozenset[str] | None:
    """The rule codes a line's ``# why502: ignore`` comment names (``{"*"}`` for every rule),
    ``None`` when the line has no such comment."""
    comment = line[len(strip_comment(line)):]
    m = _MARK.search(comment)
    if m is None:
        return None
    codes: set[str] = set()
    for word in re.split(r"[\s,]+", m.group("rest").strip()):
        rule = find_rule(word) if word else None
        if rule is None:
            break
        codes.add(rule.code)
    return frozenset(codes) if codes else frozenset({ALL})


class Suppressions:
    """The ``# why502: ignore`` comments of a config's files, read once per file."""

    def __init__(self, file_text: Callable[[str], str | None]) -> None:
        self.file_text = file_text
        self._lines: dict[str, list[str]] = {}

    def _file(self, path: str) -> list[str]:
        if path not in self._lines:
            text = self.file_text(path)
            self._lines[path] = split_lines(text) if text is not None else []
        return self._lines[path]

    def silences(self, f: LintFinding) -> bool:
        """Does a comment on ``f``'s line, or alone on the line above, name its rule?"""
        if not f.file or not f.line:
            return False
        lines = self._file(f.file)
        if not 1 <= f.line <= len(lines):
            return False
        candidates = [lines[f.line - 1]]
        if f.line >= 2 and lines[f.line - 2].lstrip().startswith("#"):
            candidates.append(lines[f.line - 2])
        for line in candidates:
            codes = ignored_on(line)
            if codes is not None and (ALL in codes or f.code in codes):
                return True
        return False
