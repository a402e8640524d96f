"""Fixes to an Envoy bootstrap (YAML or JSON) as unified diffs against the real file.

Two edits cover what lint and diagnose propose: replace a scalar value where it is set (the
value's own span on its line, so a JSON line keeps its comma), and add a key to a mapping, on a
line of its own before one of the mapping's other keys (so it lands inside the mapping whatever
the value of the key before it spans; a mapping written on one line gets no diff).  Nested
values (``common_http_protocol_options: {idle_timeout: 4s}``) are written as block YAML, or as
one JSON member.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from why502.findings.patch import window_diff
from why502.proxies.envoy.config import Map


def _yaml_lines(key: str, value: object, pad: str) -> list[str]:
    if isinstance(value, dict) and not value:
        return [f"{pad}{key}: {{}}"]
    if isinstance(value, dict):
        out = [f"{pad}{key}:"]
        for k, v in value.items():
            out += _yaml_lines(k, v, pad + "  ")
        return out
    text = str(value)
    if key.startswith("@") or text.startswith(("@", "{", "[", "*", "&")) or ": " in text:
        return [f"{pad}{json.dumps(key) if key.startswith('@') else key}: {json.dumps(text)}"]
    return [f"{pad}{key}: {text}"]


def add_key(files: Mapping[str, Sequence[str]], path: str | None, mapping: Map | None, key: str,
            value: object, *, as_json: bool) -> str | None:
    """Diff adding ``key: value`` to ``mapping`` (of ``path``); None when the mapping is written
    on one line (no line of its own to put the key on)."""
    lines = files.get(path or "")
    if not lines or mapping is None or not mapping.keys_at:
        return None
    # before a later key that starts its line (block YAML, or pretty-printed JSON)
    for other, (line, col) in list(mapping.keys_at.items())[1:]:
        text = lines[line - 1]
        if text[:col].strip() or other == key:
            continue
        pad = text[:col]
        new = [f"{pad}{json.dumps(key)}: {json.dumps(value)},"] if as_json else _yaml_lines(key, value, pad)
        return window_diff(path or "", lines, line - 1, line - 1, new)
    # else after the last key, when it and its value are the last things on their line (YAML)
    last, (line, col) = list(mapping.keys_at.items())[-1]
    v_line, _vcol, end_line, end_col = mapping.values_at[last]
    text = lines[line - 1]
    if as_json or text[:col].strip() or v_line != line or end_line != line or text[end_col:].strip():
        return None
    return window_diff(path or "", lines, line, line, _yaml_lines(key, value, text[:col]))


def set_value(files: Mapping[str, Sequence[str]], path: str | None, mapping: Map | None, key: str,
              value: str, *, as_json: bool) -> str | None:
    """Diff replacing the scalar value of ``key`` in ``mapping`` by ``value``; None when it is
    not a scalar on the key's line."""
    lines = files.get(path or "")
    if not lines or mapping is None or key not in mapping.values_at:
        return None
    line, col, end_line, end_col = mapping.values_at[key]
    if line != end_line or isinstance(mapping.get(key), (dict, list)):
        return None
    text = lines[line - 1]
    shown = json.dumps(value) if as_json or text[col:col + 1] in "\"'" else value
    new = text[:col] + shown + text[end_col:]
    return window_diff(path or "", lines, line - 1, line, [new])
