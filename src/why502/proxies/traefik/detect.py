"""Whether a file is Traefik's dynamic config (``Proxy.detect``), apart from its reader.

Every run scores a config against every proxy (``proxies.detect_text``); this module holds
only what that needs, so a run on another proxy's config never imports Traefik's reader (issue 28
item 1: start-up).
"""

from __future__ import annotations

import re

# ``routers:``/``services:`` after blanks at a line's start, or at a line's start after a blank
# line: what ``(?m)^\s+(routers|services):\s*$`` found, whose ``\s+`` crossed lines -- from every
# line start of a run of blank lines it read the run to its end (4.6 s for 20 KB of newlines after
# an ``http:`` line; detection reads a MiB).  Each line is read once now; the same answer on
# 300,000 generated texts (tests/proxies/test_detect_linear.py)
_NESTED_KEY = re.compile(r"(?m)(?:^[^\S\n]+|^[^\S\n]*\n)(?:routers|services):[^\S\n]*$")


def looks_like_toml(text: str) -> bool:
    return re.search(r"(?m)^[^\S\n]*\[\[?http\.(routers|services)\b", text) is not None


def looks_like_dynamic(text: str) -> bool:
    """A dynamic config: ``[http.routers...]``/``[http.services...]`` tables (TOML) or an
    ``http:`` key holding ``routers:`` or ``services:`` (YAML)."""
    if looks_like_toml(text):
        return True
    return (re.search(r"(?m)^http:\s*$", text) is not None
            and _NESTED_KEY.search(text) is not None)
