"""Changes to a standalone APISIX config (``apisix.yaml``) as unified diffs on the file.

The two block-YAML edits of ``parsers.yamlmap`` (a scalar replaced on its own line, keys added to
a mapping); a JSON file, a flow mapping or an Admin API dump gets no diff: the finding says the
change, and for an Admin API the request that makes it (``proxy.Apisix.reload_commands``), never
applied -- the routes live in etcd, not in the file read.

``RENDERERS`` (``Hooks.edits``, ``proxies.render_edit``) is empty: no intent of ``facts.edits``
has a place in ``apisix.yaml`` that why502 writes.  The keep-alive pool (``KeepIdleConnections``,
``CloseIdleBefore``) is an upstream's ``keepalive_pool`` (size 320, idle_timeout 60 s,
requests 1000: schema_def.lua) or ``nginx_config.http.upstream`` in config.yaml; the resolver
(``AddResolver``) is ``dns_resolver`` in config.yaml; SNI (``SendServerName``) is the upstream's
``pass_host``/``upstream_host``; connection limits are nginx's, in config.yaml's
``nginx_config``.  What this module writes: the response timeout (``Proxy.timeout_diff``) and an
upstream's ``checks`` (lint W502-043).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from why502.parsers.yamlmap import Map, add_keys, set_scalars
from why502.proxies.apisix.config import DEFAULT_TIMEOUT, parse_apisix_text

RENDERERS: dict[type, Any] = {}
"""No intent of ``facts.edits`` is written in APISIX's file (module docstring)."""


def timeout_block(read: int, written: Mapping[str, object] | None = None) -> list[str]:
    """A whole ``timeout`` (the schema requires ``connect``, ``send`` and ``read``: schema_def.lua
    ``timeout_def``), the other two kept as written or nginx's 60 s."""
    have = written or {}
    return ["timeout:", f"  connect: {have.get('connect', DEFAULT_TIMEOUT)}",
            f"  send: {have.get('send', DEFAULT_TIMEOUT)}", f"  read: {read}"]


def set_read_timeout(files: Mapping[str, Sequence[str]], path: str, line: int | None,
                     seconds: int) -> str | None:
    """A diff giving the route or upstream written at ``path``:``line`` ``timeout.read`` =
    ``seconds``: the value replaced where the file sets it, else a whole ``timeout`` added."""
    if path not in files or line is None:
        return None
    cfg = parse_apisix_text("\n".join(files[path]) + "\n", path)
    if cfg.admin_api:
        return None  # etcd's, not this file's: the finding prints the Admin API request
    nodes: list[Map] = [n for n in (*(r.node for r in cfg.routes), *(u.node for u in cfg.upstreams.values()),
                                    *(r.upstream.node for r in cfg.routes if r.upstream),
                                    *(s.upstream.node for s in cfg.services.values() if s.upstream))
                        if n is not None and n.line == line]
    if not nodes:
        return None
    node = nodes[0]
    t = node.get("timeout")
    if isinstance(t, Map) and "read" in t:
        return set_scalars(files, path, t, {"read": str(seconds)})
    if isinstance(t, Map):
        return add_keys(files, path, t, [f"read: {seconds}"])
    return add_keys(files, path, node, timeout_block(seconds))
