"""Whether a file is APISIX's config (``Proxy.detect``), apart from its reader.

Every run scores a config against every proxy (``proxies.detect_text``); this module holds
only what that needs (``re``), so an nginx run never imports APISIX's reader and its YAML
helpers (issue 28 item 1: start-up).
"""

from __future__ import annotations

import re

_TOP = re.compile(r"(?m)^(routes|upstreams|services)[ \t]*:")
_MARKS = re.compile(r"(?m)^[ \t]*(?:-[ \t]+)?(uri|uris|upstream_id|service_id|nodes|pass_host|"
                    r"hash_on|retry_timeout|plugin_config_id|enable_websocket)[ \t]*:")
_NODE_TOP = re.compile(r"(?m)^(apisix|deployment|nginx_config|plugin_attr)[ \t]*:")
_NODE_KEYS = re.compile(r"(?m)^[ \t]+(node_listen|enable_admin|config_provider|role_data_plane|"
                        r"role_traditional|admin_key|enable_control)[ \t]*:")
_ADMIN_JSON = re.compile(r'"key"\s*:\s*"(?:\\?/)apisix(?:\\?/)(?:routes|services|upstreams)')
_JSON_MARKS = re.compile(r'"(uri|uris|upstream_id|service_id|nodes|pass_host)"\s*:')


def detect_score(raw: str, masked: str, certain: int) -> int:
    """How surely ``raw`` is APISIX's.  Certain: an Admin API answer (``"key":
    "/apisix/routes/..."``: etcd's key prefix, admin-api.md), a standalone file ending with
    ``#END`` with APISIX's top-level arrays (config_yaml.lua), a node config whose top-level
    ``apisix:`` / ``deployment:`` holds its keys (``node_listen``, ``config_provider``...).
    Otherwise the count of APISIX's own keys (``uri``, ``upstream_id``, ``nodes``, ``pass_host``...)
    under top-level ``routes:`` / ``upstreams:`` / ``services:`` (masked: a comment or a quoted
    string is no mark), 0 for fewer than two; Kong's declarative keys (``paths``, ``targets``)
    are none of them."""
    head = raw.lstrip()
    if head.startswith("{"):
        if _ADMIN_JSON.search(raw[:65536]):
            return certain
        top = re.search(r'"(routes|upstreams)"\s*:\s*\[', raw[:65536])
        keys = len({m.group(1) for m in _JSON_MARKS.finditer(raw[:65536])})
        return keys if top and keys >= 2 else 0
    if _NODE_TOP.search(masked) and _NODE_KEYS.search(masked):
        return certain
    if not _TOP.search(masked):
        return 0
    keys = len({m.group(1) for m in _MARKS.finditer(masked)})
    if keys and re.search(r"#END\s*$", raw[-16:]):
        return certain
    return keys if keys >= 2 else 0
