"""Whether a file is Traefik's dynamic config (``Proxy.detect``), apart from its reader.

Every run scores a config against every proxy (``proxies.detect_text``); this module holds
only what that needs, so a run on another proxy's config never imports Traefik's reader (issue 28
item 1: start-up).
"""

from __future__ import annotations

import re


def looks_like_toml(text: str) -> bool:
    return re.search(r"(?m)^[^\S\n]*\[\[?http\.(routers|services)\b", text) is not None


def looks_like_dynamic(text: str) -> bool:
    """A dynamic config: ``[http.routers...]``/``[http.services...]`` tables (TOML) or an
    ``http:`` key holding ``routers:`` or ``services:`` (YAML)."""
    if looks_like_toml(text):
        return True
    return (re.search(r"(?m)^http:\s*$", text) is not None
            and re.search(r"(?m)^\s+(routers|services):\s*$", text) is not None)
