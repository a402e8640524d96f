"""Whether a file is cloudflared's config (``Proxy.detect``), apart from its reader.

Every run scores a config against every proxy (``proxies.detect_text``); this module holds only
what that needs, so a run on another proxy's config never imports cloudflared's reader (issue 28
item 1: start-up; as ``detect.py`` of Apache, Caddy, Traefik, Kong and APISIX).
"""

from __future__ import annotations

import re

# Detection, on the masked text (comments and quoted strings blanked): top-level keys only
# cloudflared's file has, and an ``ingress:`` list whose items carry a ``service:``.
_TOP_OWN = re.compile(r"(?m)^(credentials-file|tunnel|warp-routing|originRequest|no-autoupdate|"
                      r"protocol|metrics|loglevel|logfile)\s*:")
_INGRESS = re.compile(r"(?m)^ingress\s*:\s*$")
_ITEM = re.compile(r"(?m)^[ \t]*-[ \t]+(?:hostname|service|path)[ \t]*:")
_SERVICE = re.compile(r"(?m)^[ \t]*(?:-[ \t]+)?service[ \t]*:")
_STRONG = ("credentials-file", "tunnel", "warp-routing")


def detect_score(raw: str, masked: str, certain: int) -> int:
    """Certain: a top-level ``ingress:`` list whose items are ``hostname``/``service``/``path``
    rules with a ``service:``, together with ``tunnel:``, ``credentials-file:`` or
    ``warp-routing:`` (config/configuration.go); or ``credentials-file:`` with ``tunnel:``; or
    one of those with ``service:`` lines and no ``ingress:`` key (cloudflare/cloudflared#590: a
    copied snippet without it, which cloudflared cannot parse: read, it says why in one line).
    Else the count of cloudflared's own top-level keys beside such an ingress list, 0 without one:
    a Kubernetes Ingress keeps its rules under ``spec:``, Traefik, Kong, APISIX and Envoy have no
    top-level ``ingress:`` list of services."""
    tops = {m.group(1) for m in _TOP_OWN.finditer(masked)}
    ingress = _INGRESS.search(masked) is not None and _ITEM.search(masked) is not None \
        and _SERVICE.search(masked) is not None
    if {"credentials-file", "tunnel"} <= tops or (ingress and tops & set(_STRONG)):
        return certain
    if tops & set(_STRONG) and _SERVICE.search(masked):
        return certain  # rules under a misspelt or missing ``ingress:``: cloudflared's, unreadable
    return (1 + len(tops)) if ingress else 0
