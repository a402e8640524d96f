"""Fixes to a ``haproxy.cfg`` as unified diffs against the real file (``findings.patch``).

Two edits cover the fixes diagnose and lint propose: set a section keyword (``timeout server
30s``, ``timeout queue 10s``, ``option redispatch``) where it is set now, or add it to the
section; and set a parameter of one ``server`` line (``maxconn 20``, ``check``).  HAProxy reads
the last value of a keyword in a section (configuration.txt 4: a setting in a proxy section
overrides the ``defaults``), so replacing the line that is in effect is the smallest change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from why502.facts.setting import Setting
from why502.findings.patch import insert_after, replace_line
from why502.proxies.haproxy.config import split_words


def set_keyword(files: Mapping[str, Sequence[str]], keyword: str, value: str, *,
                setting: Setting | None, section_file: str | None,
                section_line: int | None) -> str | None:
    """Diff setting ``keyword value``: on the line now in effect (when it is set in the section
    itself or its defaults), else as a new line of the section at ``section_line``."""
    new = f"{keyword} {value}".strip()
    if setting is not None and not setting.is_default and setting.file and setting.line:
        return replace_line(files, setting.file, setting.line, [new])
    lines = files.get(section_file or "")
    if not lines or section_line is None or section_line >= len(lines):
        return None
    # after the section's first line that is indented like its body (the header has no indent)
    body = section_line + 1
    if split_words(lines[body - 1]) and lines[body - 1][:1] in (" ", "\t"):
        return insert_after(files, section_file, body, [new])
    return insert_after(files, section_file, section_line, ["    " + new])


def set_server_param(files: Mapping[str, Sequence[str]], file: str | None, line: int | None,
                     param: str, value: str | None) -> str | None:
    """Diff of one ``server`` line with ``param value`` set (or the flag ``param`` added)."""
    lines = files.get(file or "")
    if not lines or line is None or not 1 <= line <= len(lines):
        return None
    text = lines[line - 1]
    code, hash_, comment = text.partition("#")
    words = code.split()
    if param in words:
        if value is None:
            return None
        i = words.index(param)
        if i + 1 < len(words):
            words[i + 1] = value
        else:
            words.append(value)
    else:
        words += [param] if value is None else [param, value]
    new = " ".join(words) + (f" {hash_}{comment}" if hash_ else "")
    return replace_line(files, file, line, [new])
