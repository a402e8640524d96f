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

from typing import Any

from why502.parsers.yamlmap import add_keys, set_scalars

__all__ = ["RENDERERS", "add_keys", "set_scalars"]  # the two edits, shared (parsers.yamlmap)

RENDERERS: dict[type, Any] = {}
"""No intent of ``facts.edits`` has a place in Kong's declarative file (module docstring)."""
