"""Edits of nginx config text that know nginx's syntax: set ``directive value;`` in a block,
replacing the statement where the level already sets it; several edits of one file as one diff.

The diff itself is :mod:`why502.findings.patch` (``a/``/``b/`` labels, ``patch -p1``, 3 lines
of context), shared by lint and diagnose.  Statements are found on the line crossplane reported
for them (``Directive.line``); a ``#`` comment and quoted strings are respected, the file's
indentation (tabs or spaces) and line endings (CRLF) are kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from why502.findings.patch import insert_after, join_lines, split_lines, unified_diff
from why502.parsers.nginx.model import NginxConfig
from why502.parsers.nginx.tree import Directive


def strip_comment(line: str) -> str:
    """``line`` without its ``#`` comment (a ``#`` inside quotes is not a comment)."""
    out = []
    quote = ""
    for ch in line:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            break
        out.append(ch)
    return "".join(out)


def _statement_re(directive: str) -> re.Pattern[str]:
    return re.compile(rf"(?P<indent>^|(?<=[;{{}}\s])){re.escape(directive)}\s[^;]*;")


def set_directive_text(text: str, *, directive: str, value: str, block_line: int,
                       existing_line: int | None = None, path: str = "config") -> str:
    """Return ``text`` with ``directive value;`` set in the block opened at ``block_line``.

    With ``existing_line`` the statement on that line is replaced in place (other statements on
    the line are kept); otherwise a new line is inserted right after the line holding the
    block's ``{``, indented like the block's first statement (or one level deeper than the
    block, with the file's tab/space style).  Raises ``ValueError`` when the line numbers do not
    fit the text.
    """
    lines = split_lines(text)
    new = list(lines)
    stmt = f"{directive} {value};"
    if existing_line is not None:
        if not 1 <= existing_line <= len(lines):
            raise ValueError(f"line {existing_line} is outside {path}")
        old = lines[existing_line - 1]
        replaced, n = _statement_re(directive).subn(lambda _m: stmt, old, count=1)
        if n == 0:
            raise ValueError(f"{path}:{existing_line} has no complete '{directive}' statement")
        new[existing_line - 1] = replaced
        return "".join(new)
    if not 1 <= block_line <= len(lines):
        raise ValueError(f"line {block_line} is outside {path}")
    idx = block_line - 1
    while idx < len(lines) and "{" not in strip_comment(lines[idx]):
        idx += 1
    if idx >= len(lines):
        raise ValueError(f"no '{{' at or after {path}:{block_line}")
    opener = lines[idx]
    block_indent = re.match(r"[ \t]*", lines[block_line - 1])
    base = block_indent.group(0) if block_indent else ""
    indent = None
    for follow in lines[idx + 1:]:
        if follow.strip() and not follow.strip().startswith("}"):
            lead = re.match(r"[ \t]*", follow)
            cand = lead.group(0) if lead else ""
            if len(cand) > len(base):
                indent = cand
            break
    if indent is None:
        indent = base + ("\t" if "\t" in base else "    ")
    newline = "\r\n" if opener.endswith("\r\n") else "\n"
    if not opener.endswith("\n"):
        new[idx] = opener + newline
    new.insert(idx + 1, f"{indent}{stmt}{newline}")
    return "".join(new)


def make_directive_diff(text: str, path: str, *, directive: str, value: str, block_line: int,
                        existing_line: int | None = None) -> str:
    """A unified diff that sets ``directive value;`` in the block opened at ``block_line``.

    Pure: works on ``text`` (the real file's content); ``path`` labels the diff.  See
    :func:`set_directive_text` for where the line goes.  Raises ``ValueError`` on bad line numbers.
    """
    new = set_directive_text(text, directive=directive, value=value, block_line=block_line,
                             existing_line=existing_line, path=path)
    return unified_diff(text, new, path)


def set_directive(files: Mapping[str, Sequence[str]], name: str, value: str, *,
                  setting_file: str | None, setting_line: int | None, is_default: bool,
                  anchor_file: str | None, anchor_line: int | None) -> str | None:
    """Diff that makes ``name value;`` effective: replace the statement where it is set (other
    statements and comments on its line are kept), else add it after ``anchor`` (the
    ``proxy_pass`` line: the same block) with the anchor's indentation.  ``files`` holds the
    config files' lines (``Evidence.files``)."""
    if not is_default and setting_file and setting_line:
        lines = files.get(setting_file)
        if lines and 1 <= setting_line <= len(lines) and name in lines[setting_line - 1]:
            text = join_lines(lines)
            try:
                new = set_directive_text(text, directive=name, value=value, block_line=setting_line,
                                         existing_line=setting_line, path=setting_file)
            except ValueError:
                pass
            else:
                return unified_diff(text, new, setting_file)
    return insert_after(files, anchor_file, anchor_line, [f"{name} {value};"])


class ConfigEdits:
    """Several directive edits to one file of ``cfg``, rendered as one unified diff.

    Edits after the first one in another file are dropped (one diff per finding); an edit whose
    line numbers do not fit the file is skipped.  Insertions go right after their block's
    ``{`` line, so the line of a later replacement below the block moves by the lines inserted
    so far (``shift``)."""

    def __init__(self, cfg: NginxConfig) -> None:
        self.cfg = cfg
        self.path: str | None = None
        self.old: str | None = None
        self.new: str | None = None
        self.shift = 0  # lines inserted so far (all insertions are after their block's opener)

    def set(self, file: str | None, block_line: int | None, directive: str, value: str,
            existing: Directive | None = None) -> None:
        """Set ``directive value;`` in the block opened at ``file:block_line``, replacing
        ``existing`` (the statement the level already has) when it is in that file."""
        if file is None or block_line is None:
            return
        if self.path is not None and file != self.path:
            return  # one diff per finding; keep the first file's edits
        if self.old is None:
            text = self.cfg.file_text(file)
            if text is None:
                return
            self.path, self.old, self.new = file, text, text
        assert self.new is not None
        try:
            if existing is not None and existing.file == file:
                line = existing.line + (self.shift if existing.line > block_line else 0)
                self.new = set_directive_text(self.new, directive=directive, value=value,
                                              block_line=block_line, existing_line=line, path=file)
            else:
                self.new = set_directive_text(self.new, directive=directive, value=value,
                                              block_line=block_line, path=file)
                self.shift += 1
        except ValueError:
            return

    def diff(self) -> str | None:
        if self.path is None or self.old is None or self.new is None or self.old == self.new:
            return None
        return unified_diff(self.old, self.new, self.path)
