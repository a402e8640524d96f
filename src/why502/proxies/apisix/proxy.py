"""Apache APISIX: a standalone ``apisix.yaml`` / ``apisix.json`` or an Admin API dump.

A route is an APISIX route (``uri``, ``host``), a group an upstream (one of ``upstreams``, or one
written in the route or its service) and its ``nodes``.  Response timeout: ``timeout.read``, in
seconds, of the route, else of its upstream (apache/apisix ``apisix/balancer.lua``
``set_balancer_opts``, ``set_timeouts(timeout.connect, timeout.send, timeout.read)``), else
nginx's 60 s (the location ``apisix/cli/ngx_tpl.lua`` generates sets no ``proxy_read_timeout``);
when it fires the client gets OpenResty's 504 and the error log nginx's "upstream timed out".

Config test and reload (docs/en/latest/deployment-modes.md): a standalone file is re-read by
APISIX itself when it changes and ends with ``#END`` (every second), no command needed; ``apisix
test`` checks the node's nginx.conf (``apisix/cli/ops.lua``), ``apisix reload`` reloads it.  An
Admin API change applies at once.  APISIX's error log is ``logs/error.log`` under its prefix
``/usr/local/apisix`` (``apisix/cli/ngx_tpl.lua``: ``error_log {* error_log *}``, config-default
``nginx_config.error_log: logs/error.log``): nginx's error-line shape, the Lua lines prefixed
``[lua] FILE:LINE: FUNC():``.

No APISIX binary and no Admin API are used here (none is installed on the machine that built
this): the config is read as a file; there is no lab runtime and no live probe.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from why502.facts.setting import Setting
from why502.proxies.base import CERTAIN, BaseProxy, Detection, Hooks, Vocabulary

ADMIN = "http://127.0.0.1:9180/apisix/admin"  # deployment.admin.admin_listen, port 9180 (3.x)


def _admin_dump(path: str | None) -> bool:
    """Is ``path`` an Admin API dump (its routes live in etcd, not in the file)?"""
    if not path:
        return False
    with contextlib.suppress(OSError), open(path, encoding="utf-8", errors="replace") as f:
        head = f.read(4096)
        return head.lstrip().startswith("{") and '/apisix/' in head.replace("\\/", "/")
    return False


class Apisix(BaseProxy):
    name = "apisix"
    vocabulary = Vocabulary(
        title="APISIX", long_title="Apache APISIX", route="route", group="upstream",
        response_timeout="timeout.read", timeout_default="60 s (nginx's proxy_read_timeout)",
        timeout_state="", config_test="apisix test",
        reload="apisix reload   # a standalone apisix.yaml ending with #END is re-read by itself",
        default_config="/usr/local/apisix/conf/apisix.yaml",
        default_error_log="/usr/local/apisix/logs/error.log",
        stats_word="APISIX", stats_target="node", stats_timeout="timeout.read",
        stats_timeout_column="timeout_read",
        keepalive_timeout="keepalive_pool.idle_timeout", keepalive_pool="keepalive_pool.size",
        failure_count="checks.passive.unhealthy (tcp_failures, timeouts, http_failures)",
        no_server_answer="'failed to find valid upstream server'",
        admin_api=ADMIN,
        lint_help=("(--config apisix.yaml, apisix.json or an Admin API dump): upstreams of several "
                   "nodes without health checks, retries with one node, timeout.read below the "
                   "backend's, routes whose upstream_id or service_id names nothing"),
        lint_example="--backend-timeout 60")
    capabilities = frozenset()
    detection = Detection(programs=("apisix",), priority=1, packaged_configs=(
        "/usr/local/apisix/conf/apisix.yaml", "/usr/local/apisix/conf/config.yaml"))
    hooks = Hooks(load_config="why502.proxies.apisix.config:load_apisix",
                  lint_rules="why502.proxies.apisix.lint", fix_service="", lab_runtime="",
                  lint_input="why502.proxies.apisix.lint:LINT",
                  config_facts="why502.proxies.apisix.facts:edge_facts",
                  facts="why502.proxies.apisix.facts", edits="why502.proxies.apisix.edit")

    def detect(self, raw: str, masked: str) -> int:
        """An Admin API answer, a standalone file ending with ``#END``, a node config (certain),
        else APISIX's keys under its top-level arrays (``detect.detect_score``)."""
        from why502.proxies.apisix.detect import detect_score

        return detect_score(raw, masked, CERTAIN)

    def reload_commands(self, config: str | None, *, prefix: str | None = None) -> list[str]:
        """A standalone file: ``apisix test`` and ``apisix reload`` (the file itself is re-read
        when it ends with ``#END``).  An Admin API dump: the change is a request to the Admin API
        (admin-api.md: ``PATCH /apisix/admin/routes/{id}``, deep-merged into the stored route by
        ``apisix/admin/resource.lua`` with ``core.table.merge``, so the other timers stay; the schema
        requires all three when the route has none, ``schema_def.lua`` ``timeout_def``), which
        applies at once; why502 prints it, never sends it."""
        if _admin_dump(config):
            return [f"curl -s -X PATCH {ADMIN}/routes/ROUTE_ID -H \"X-API-KEY: $ADMIN_KEY\" "
                    "-d '{\"timeout\": {\"read\": SECONDS}}'   # Admin API: merged into the route, "
                    "applied at once; a route without a timeout needs \"connect\" and \"send\" too"]
        return [self.vocabulary.config_test, self.vocabulary.reload]

    def show_group_commands(self, group: str | None) -> list[str]:
        """The Control API's health of an upstream's nodes (``GET /v1/healthcheck/upstreams/{id}``,
        port 9090: docs/en/latest/control-api.md) and the upstream as the Admin API has it."""
        up = group or "UPSTREAM_ID"
        return [f"curl -s http://127.0.0.1:9090/v1/healthcheck/upstreams/{up}   # APISIX Control API",
                f"curl -s {ADMIN}/upstreams/{up} -H \"X-API-KEY: $ADMIN_KEY\""]

    def response_timeout(self, settings: Mapping[str, Setting], kind: str
                         ) -> tuple[str, Setting | None]:
        return "timeout.read", settings.get("timeout.read")

    def timeout_seconds(self, setting: Setting | None) -> float | None:
        """``timeout.read`` in seconds (a number, fractions allowed); 60 s when unset."""
        from why502.proxies.apisix.config import seconds_of

        return seconds_of(setting.value) if setting is not None else 60.0

    def timeout_diff(self, files: Mapping[str, tuple[str, ...]], name: str, setting: Setting | None,
                     route: tuple[str | None, int | None], target: tuple[str | None, int | None],
                     seconds: int, anchor: str | None = None) -> str | None:
        """``timeout.read`` of the route or upstream at ``route`` (the mapping whose timeout the
        requests get: ``facts.timeouts``): replaced where set, else a whole ``timeout`` added
        (``edit.set_read_timeout``); no diff for an Admin API dump."""
        from why502.proxies.apisix.edit import set_read_timeout

        path, line = route
        return set_read_timeout(files, path, line, seconds) if path is not None else None


PROXY = Apisix()
