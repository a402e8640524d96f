"""Fixes to an Apache config as unified diffs against the real file (``findings.patch``).

A proxied request's timeout is the worker's ``timeout=`` when set, else ``ProxyTimeout``, else
``Timeout`` (mod_proxy.html: ProxyTimeout "defaults to Timeout"; worker parameter ``timeout``:
"defaults to ProxyTimeout").  The smallest fix changes the one in effect: the ``timeout=`` on
the ProxyPass line, the ``ProxyTimeout`` line, or -- when only ``Timeout`` (or its default)
applies -- a ``ProxyTimeout`` line next to the ProxyPass, so client timeouts stay as they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from why502.facts.setting import Setting
from why502.findings.patch import insert_after, replace_line


def apache_timeout_diff(files: Mapping[str, Sequence[str]], setting: Setting | None,
                        pass_file: str | None, pass_line: int | None, seconds: int) -> str | None:
    lines = files.get((setting.file if setting else None) or "")
    if setting is not None and not setting.is_default and lines and setting.line:
        text = lines[setting.line - 1]
        if re.search(r"\btimeout=\S+", text, re.IGNORECASE):
            new = re.sub(r"\b(timeout=)\S+", rf"\g<1>{seconds}", text, flags=re.IGNORECASE)
            return replace_line(files, setting.file, setting.line, [new.strip()])
        if text.strip().lower().startswith("proxytimeout"):
            return replace_line(files, setting.file, setting.line, [f"ProxyTimeout {seconds}"])
    return insert_after(files, pass_file, pass_line, [f"ProxyTimeout {seconds}"])
