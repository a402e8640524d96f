"""Whether a file is Kong's declarative config (``Proxy.detect``), apart from its reader.

Every run scores a config against every proxy (``proxies.detect_text``); this module holds
only what that needs (``re``, ``json``), so an nginx run never imports Kong's reader and its
YAML helpers (issue 28 item 1: start-up).
"""

from __future__ import annotations

import json
import re

_FORMAT_KEY = re.compile(r"(?m)^_format_version[ \t]*:")
_TOP = re.compile(r"(?m)^(services|upstreams|routes|targets)[ \t]*:")
_ENTITY_KEYS = re.compile(r"(?m)^[ \t]*(?:-[ \t]+)?(read_timeout|connect_timeout|write_timeout|target|"
                          r"healthchecks|strip_path|https_redirect_status_code)[ \t]*:")


def detect_score(raw: str, masked: str, certain: int) -> int:
    """How surely ``raw`` is a Kong declarative config: ``certain`` for a top-level
    ``_format_version`` key (mandatory in Kong's declarative format, kong_yml.lua: "_format_version
    is mandatory"; written by ``deck gateway dump``), in block YAML (on the masked text, so a
    comment or a quoted string does not count) or as a JSON document's key; else, for a decK
    file without it, the count of Kong's own keys under top-level ``services:`` / ``upstreams:``
    (``read_timeout``, ``target``, ``healthchecks``, ``strip_path``...), 0 for fewer than two."""
    head = raw.lstrip()
    if head.startswith("{"):
        try:
            doc = json.loads(head)
        except ValueError:
            return certain if re.match(r'\{\s*"_format_version"\s*:', head) else 0
        return certain if isinstance(doc, dict) and "_format_version" in doc else 0
    if _FORMAT_KEY.search(masked):
        return certain
    if not _TOP.search(masked):
        return 0
    keys = len({m.group(1) for m in _ENTITY_KEYS.finditer(masked)})
    return keys if keys >= 2 else 0  # one ``target:`` is a docker-compose volume's too
