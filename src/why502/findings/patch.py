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
Edits that know nginx's syntax (set a directive in a block) are in ``why502.proxies.nginx.config.edit``.
"""

from __future__ import annotations

import difflib
import os
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
    start = line if keep else line - 1
    return window_diff(path or "", lines, start, line, [pad + n.strip() for n in new_lines])


def window_diff(path: str, lines: Sequence[str], start: int, stop: int, new: Sequence[str]) -> str:
    """Diff replacing ``lines[start:stop]`` (0-based) by ``new``: :func:`edits_diff` of one edit."""
    return edits_diff(path, lines, [(start, stop, list(new))])


Edit = tuple[int, int, list[str]]
"""``(start, stop, new)``: ``lines[start:stop]`` (0-based, of the original file) becomes ``new``."""


def edits_diff(path: str, lines: Sequence[str], edits: Sequence[Edit]) -> str:
    """The unified diff of ``edits`` (non-overlapping, in the original file's line numbers) on
    ``lines`` (with or without their endings), hunks written directly: the removed lines, the
    added lines and :data:`CONTEXT` lines either side, edits closer than that in one hunk.

    A fix costs the size of its edits, not of the file: a config of 5000 server blocks gets
    5000 fixes in linear time (a difflib run on the whole file per fix was quadratic: 7 of the
    10 s of diagnose on 1000 servers, most of lint's minutes on 5000).  The hunks are not
    minimised as difflib would (a replaced line equal to its replacement is still shown as
    ``-``/``+``); ``patch`` applies them the same."""
    todo = sorted((e for e in edits if list(lines[e[0]:e[1]]) != list(e[2])), key=lambda e: (e[0], e[1]))
    if not todo:
        return ""
    before, after = labels(path)
    out = [f"--- {before}\n", f"+++ {after}\n"]
    shift = 0  # lines the hunks so far added (new-file numbers run ahead of old ones)
    i = 0
    while i < len(todo):
        group = [todo[i]]
        while i + 1 < len(todo) and todo[i + 1][0] - group[-1][1] <= 2 * CONTEXT:
            i += 1
            group.append(todo[i])
        i += 1
        lo, hi = max(0, group[0][0] - CONTEXT), min(len(lines), group[-1][1] + CONTEXT)
        body: list[str] = []
        pos, old_len, new_len = lo, 0, 0
        for start, stop, new in group:
            body += [" " + _nl(ln) for ln in lines[pos:start]]
            body += ["-" + _nl(ln) for ln in lines[start:stop]]
            body += ["+" + _nl(ln) for ln in new]
            old_len += (start - pos) + (stop - start)
            new_len += (start - pos) + len(new)
            pos = stop
        body += [" " + _nl(ln) for ln in lines[pos:hi]]
        old_len += hi - pos
        new_len += hi - pos
        out.append(f"@@ -{_range(lo, old_len)} +{_range(lo + shift, new_len)} @@\n")
        out += body
        shift += new_len - old_len
    return "".join(out)


def _range(lo: int, length: int) -> str:
    """A unified-diff range as GNU diff and difflib write it (1-based start; ``,N`` unless the
    length is 1; an empty range names the line before it)."""
    if length == 1:
        return str(lo + 1)
    return f"{lo if not length else lo + 1},{length}"


def _nl(line: str) -> str:
    return line if line.endswith("\n") else line + "\n"


def path_of(label: str, default: str) -> str:
    """The path on this machine of a diff's ``a/``/``b/`` label, ``default`` being the file the
    fix is about: the labels dropped the leading ``/`` (:func:`labels`), which comes back when
    ``default`` is absolute."""
    rest = label[2:] if label.startswith(("a/", "b/")) else label
    if default.lstrip("/") == rest:
        return default
    return "/" + rest if os.path.isabs(default) else rest


def files_of(diff: str, default: str) -> list[str]:
    """The files a diff changes (``+++ b/PATH``), as paths on this machine."""
    out: list[str] = []
    for line in diff.splitlines():
        if line.startswith("+++ "):
            out.append(path_of(line[4:].split("\t")[0].strip(), default))
    return out or [default]


HUNK_HEAD = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
"""A hunk's head: old start, old length, new start, new length (a length of 1 may be left out)."""


def diff_edits(diff: str, default: str) -> dict[str, list[Edit]] | None:
    """The :data:`Edit` s of a diff written by this module, per file (paths as
    :func:`files_of` gives them), in the old file's line numbers and without line endings: what
    :func:`edits_diff` needs to write several fixes as one diff.  ``None`` for a diff this
    reader does not take (a ``\\ No newline at end of file`` marker, a line of no hunk)."""
    out: dict[str, list[Edit]] = {}
    edits: list[Edit] = []
    pos = left_old = left_new = 0
    current: Edit | None = None
    for line in diff.split("\n")[:-1] if diff.endswith("\n") else diff.split("\n"):
        if left_old == 0 and left_new == 0:
            current = None
            if line.startswith("--- "):
                continue
            if line.startswith("+++ "):
                edits = out.setdefault(path_of(line[4:].split("\t")[0].strip(), default), [])
                continue
            m = HUNK_HEAD.match(line)
            if m is None:
                return None
            left_old, left_new = int(m.group(2) or "1"), int(m.group(4) or "1")
            pos = int(m.group(1)) - (1 if left_old else 0)  # 0-based first old line
            continue
        tag, body = line[:1], line[1:]
        if tag == " ":
            current = None
            pos += 1
            left_old -= 1
            left_new -= 1
        elif tag in ("-", "+"):
            if current is None:
                current = (pos, pos, [])
                edits.append(current)
            if tag == "-":
                pos += 1
                left_old -= 1
                current = (current[0], pos, current[2])
                edits[-1] = current
            else:
                current[2].append(body)
                left_new -= 1
        else:
            return None
    return out if left_old == 0 and left_new == 0 else None


def combine(diffs: Sequence[str | None]) -> str | None:
    """Join several diffs (possibly for different files) into one patch, or None."""
    parts = [d for d in diffs if d]
    return "".join(parts) if parts else None


def _indent(line: str) -> str:
    m = _INDENT.match(line)
    return m.group(0) if m else ""
