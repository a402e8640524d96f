"""Fixes as unified diffs: the one diff convention of every fix why502 prints (lint and diagnose).

A fix that is config must be a diff the person on call can read and apply, made against the
exact file and line the evidence points at.  The convention (``git diff``'s):

- labels ``a/PATH`` and ``b/PATH``, PATH being the file's path without its leading ``/``, so
  ``patch -p1`` applies it: from ``/`` for an absolute path (``patch -p1 -d /``), from the
  directory a relative path is relative to otherwise;
- 3 lines of context (``diff -u``'s default: enough for ``patch`` to find the place after
  nearby edits, short enough to read in a terminal);
- the file's own line endings are kept (a CRLF file gets CRLF lines, or ``patch`` would not
  match them) and a last line without newline is marked ``\\ No newline at end of file``, as
  GNU diff does, so ``patch`` recreates the file exactly.

Lines are split on ``\\n`` only, as nginx and ``patch`` count them (``str.splitlines`` would also
split on form feeds and other separators and shift every line number after them).

Pure: works on text already read (``Evidence.files`` for diagnose, the config's text for lint).
Edits that know nginx's syntax (set a directive in a block) are in ``why502.parsers.nginx.edit``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence

CONTEXT = 3
"""Lines of context around each change."""

NO_NEWLINE = "\\ No newline at end of file\n"

_INDENT = re.compile(r"^[ \t]*")


def split_lines(text: str) -> list[str]:
    """``text`` as lines that keep their endings, split on ``\\n`` only (``"a\\r\\nb"`` ->
    ``["a\\r\\n", "b"]``)."""
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def join_lines(lines: Sequence[str]) -> str:
    """Lines read without their endings (``str.splitlines()``) back to text, each ending with
    ``\\n``; a line that still has its ending keeps it."""
    return "".join(ln if ln.endswith("\n") else ln + "\n" for ln in lines)


def labels(path: str) -> tuple[str, str]:
    """The ``a/`` and ``b/`` labels of ``path`` (``/etc/nginx/nginx.conf`` ->
    ``a/etc/nginx/nginx.conf``)."""
    name = path.lstrip("/")
    return f"a/{name}", f"b/{name}"


def unified_diff(old: str, new: str, path: str, *, context: int = CONTEXT) -> str:
    """``diff -u`` of two versions of the text of ``path`` (``patch -p1`` applies it); ``""``
    when they are equal."""
    before, after = labels(path)
    out: list[str] = []
    for line in difflib.unified_diff(split_lines(old), split_lines(new), fromfile=before,
                                     tofile=after, n=context):
        if line.endswith("\n"):
            out.append(line)
        else:  # the last line of a file without a final newline
            out.append(line + "\n" + NO_NEWLINE)
    return "".join(out)


def unified(path: str, before: Sequence[str], after: Sequence[str]) -> str:
    """:func:`unified_diff` of two line lists of ``path`` (lines as ``str.splitlines()`` gives
    them, without endings)."""
    return unified_diff(join_lines(before), join_lines(after), path)


def replace_line(files: Mapping[str, Sequence[str]], path: str | None, line: int | None,
                 new_lines: Sequence[str]) -> str | None:
    """Diff replacing 1-based ``line`` of ``path`` by ``new_lines`` (indentation kept); ``None``
    when the file or the line is not known."""
    return _splice(files, path, line, new_lines, keep=False)


def insert_after(files: Mapping[str, Sequence[str]], path: str | None, line: int | None,
                 new_lines: Sequence[str]) -> str | None:
    """Diff inserting ``new_lines`` after 1-based ``line`` with that line's indentation; ``None``
    when the file or the line is not known."""
    return _splice(files, path, line, new_lines, keep=True)


def _splice(files: Mapping[str, Sequence[str]], path: str | None, line: int | None,
            new_lines: Sequence[str], *, keep: bool) -> str | None:
    """``new_lines`` after (``keep``) or instead of 1-based ``line``, indented like it."""
    lines = files.get(path or "")
    if not lines or line is None or not 1 <= line <= len(lines):
        return None
    pad = _indent(lines[line - 1])
    after = [*lines[: line if keep else line - 1], *(pad + n.strip() for n in new_lines), *lines[line:]]
    return unified(path or "", lines, after)


def combine(diffs: Sequence[str | None]) -> str | None:
    """Join several diffs (possibly for different files) into one patch, or None."""
    parts = [d for d in diffs if d]
    return "".join(parts) if parts else None


def _indent(line: str) -> str:
    m = _INDENT.match(line)
    return m.group(0) if m else ""
