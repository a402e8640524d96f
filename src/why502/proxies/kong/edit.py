"""Changes to a Kong declarative config (``kong.yml`` / a decK file) as unified diffs on the file.

Two edits, block YAML only (a JSON file or a flow mapping gets no diff, the finding says the
change in words): replace a scalar where the file sets it, on its own line; or add keys to an
entity's mapping, indented as its first key, after that key's line and value.

``RENDERERS`` (``Hooks.edits``, ``proxies.render_edit``) is empty: every intent of
``facts.edits`` is a setting Kong does not keep in the declarative file.  Kong's upstream
keep-alive pool and idle timeout (``KeepIdleConnections``, ``CloseIdleBefore``,
``ReuseConnections``) are ``upstream_keepalive_pool_size`` / ``upstream_keepalive_idle_timeout``
in ``kong.conf`` (kong.conf.default); its header buffer (``RaiseHeaderBuffer``) is nginx's
``proxy_buffer_size`` injected through ``kong.conf`` (``nginx_proxy_*``); its resolver
(``AddResolver``) is ``dns_resolver`` in ``kong.conf``; connection and open-file limits are
nginx's, in ``kong.conf`` (``nginx_events_worker_connections``, ``nginx_main_worker_rlimit_nofile``).
``SendServerName``, ``RaiseServerConnections``, ``ReturnServers``, ``TolerateFailures`` and
``SpeakProtocol`` have no Kong equivalent written here (Kong sends the service's host as SNI,
limits no connections per target, marks no target down in the file, and takes targets out only
through ``healthchecks``).  What this module writes: a service's ``read_timeout`` (``Proxy.
timeout_diff``) and an upstream's ``healthchecks`` (lint W502-042).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from why502.findings.patch import Edit, edits_diff, window_diff
from why502.proxies.kong.config import Map

RENDERERS: dict[type, Any] = {}
"""No intent of ``facts.edits`` has a place in Kong's declarative file (module docstring)."""


def set_scalars(files: Mapping[str, Sequence[str]], path: str, node: Map,
                values: Mapping[str, str]) -> str | None:
    """Diff replacing the value of each key of ``values`` in ``node``; None when one is not a
    scalar written on its key's own line."""
    lines = files.get(path)
    edits: list[Edit] = []
    for key, value in values.items():
        if not lines or key not in node.values_at or isinstance(node[key], (dict, list)):
            return None
        line, col, end_line, end_col = node.values_at[key]
        if line != end_line or node.keys_at[key][0] != line:
            return None
        text = lines[line - 1]
        edits.append((line - 1, line, [text[:col] + value + text[end_col:]]))
    return edits_diff(path, lines, sorted(edits)) if lines and edits else None


def add_keys(files: Mapping[str, Sequence[str]], path: str, node: Map, new: Sequence[str]) -> str | None:
    """Diff adding the block-YAML lines ``new`` (written at indentation 0) to ``node``, at the
    column of its first key, after the first key's value; None for a JSON or flow mapping."""
    lines = files.get(path)
    if not lines or not node.keys_at:
        return None
    first = next(iter(node.keys_at))
    k_line, col = node.keys_at[first]
    text = lines[k_line - 1]
    if text.lstrip().startswith(("{", '"')) or "{" in text[:col]:
        return None  # JSON, or a flow mapping
    _vline, _vcol, end_line, end_col = node.values_at[first]
    # the line after the first key's value: a block value ends at the next key's column 0
    after = end_line - 1 if end_col == 0 and end_line > k_line else end_line
    pad = " " * col
    return window_diff(path, lines, after, after, [pad + n for n in new])
