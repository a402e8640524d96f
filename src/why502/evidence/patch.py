"""Unified diffs against the real config files, built from lines already read (pure).

A fix that is config must be a diff the person on call can read and apply (``patch -p0``), so it
is made against the exact file and line the evidence points at.  The file content travels in
``Evidence.files`` (read by the app layer), so building a diff never touches the disk.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence

_INDENT = re.compile(r"^\s*")


def unified(path: str, before: Sequence[str], after: Sequence[str]) -> str:
    """``diff -u`` of two line lists (lines without newlines) for ``path``."""
    return "".join(
        f"{line}\n" if not line.endswith("\n") else line
        for line in difflib.unified_diff(list(before), list(after), fromfile=path, tofile=path,
                                         n=2, lineterm="")
    )


def replace_line(files: Mapping[str, Sequence[str]], path: str | None, line: int | None,
                 new_lines: Sequence[str]) -> str | None:
    """Diff replacing 1-based ``line`` of ``path`` by ``new_lines`` (indentation kept)."""
    lines = files.get(path or "")
    if not lines or line is None or not 1 <= line <= len(lines):
        return None
    indent = _INDENT.match(lines[line - 1])
    pad = indent.group(0) if indent else ""
    after = [*lines[: line - 1], *(pad + n.strip() for n in new_lines), *lines[line:]]
    return unified(path or "", lines, after)


def insert_after(files: Mapping[str, Sequence[str]], path: str | None, line: int | None,
                 new_lines: Sequence[str]) -> str | None:
    """Diff inserting ``new_lines`` after 1-based ``line`` with that line's indentation."""
    lines = files.get(path or "")
    if not lines or line is None or not 1 <= line <= len(lines):
        return None
    indent = _INDENT.match(lines[line - 1])
    pad = indent.group(0) if indent else ""
    after = [*lines[:line], *(pad + n.strip() for n in new_lines), *lines[line:]]
    return unified(path or "", lines, after)


def set_directive(files: Mapping[str, Sequence[str]], name: str, value: str, *,
                  setting_file: str | None, setting_line: int | None, is_default: bool,
                  anchor_file: str | None, anchor_line: int | None) -> str | None:
    """Diff that makes ``name value;`` effective: edit the directive where it is set, else add it
    next to ``anchor`` (the ``proxy_pass`` line, same block)."""
    if not is_default and setting_file and setting_line:
        lines = files.get(setting_file)
        if lines and 1 <= setting_line <= len(lines) and name in lines[setting_line - 1]:
            old = lines[setting_line - 1]
            # keep anything after the directive's ';' (comments, other directives) intact
            m = re.search(rf"\b{re.escape(name)}\s+[^;]*;", old)
            if m:
                new = old[: m.start()] + f"{name} {value};" + old[m.end():]
                after = [*lines[: setting_line - 1], new, *lines[setting_line:]]
                return unified(setting_file, lines, after)
    return insert_after(files, anchor_file, anchor_line, [f"{name} {value};"])


def combine(diffs: Sequence[str | None]) -> str | None:
    """Join several diffs (possibly for different files) into one patch, or None."""
    parts = [d for d in diffs if d]
    return "".join(parts) if parts else None
