"""Envoy: a bootstrap YAML/JSON (``static_resources``) or a saved admin ``/config_dump``.

Words (Envoy's v3 API): a request is matched by a **route** of a virtual host
(route_components.proto), sent to a **cluster** (cluster.proto) whose hosts are **endpoints**
(endpoint_components.proto).  The response timeout is the route's ``timeout``: 15 s when unset,
0 disables it (RouteAction.timeout); a request it cut is logged with the response flag ``UT``
(access-log ``%RESPONSE_FLAGS%``, docs/root/configuration/observability/access_log/usage.rst).
The config test is ``envoy --mode validate -c FILE`` (docs/root/operations/cli.rst: "validate:
Validate the configuration ... and exit").

What Envoy cannot do, as data: it does not re-read a static bootstrap in place -- a new config
takes a hot restart (a new process with ``--restart-epoch N+1`` under a restarter,
docs/root/intro/arch_overview/operations/hot_restart.rst) or comes over xDS from a control
plane; so no ``WATCH`` of its logs by this proxy's readers yet and no in-place reload: the
"reload" said is a restart.  Its processes are not discovered as a proxy master (its admin API,
not its command line, says what it runs: issue 24), so ``Detection.programs`` is empty and
``EDGE_PROGRAMS`` keeps an ``envoy`` process from being taken for a backend.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from why502.facts.setting import Setting
from why502.proxies.base import CERTAIN, BaseProxy, Capability, Detection, Hooks, Vocabulary

# keys at a line's start (YAML block style, quoted or not; a "# ..." comment line never matches)
_KEYS = re.compile(r"(?m)^[ \t]*(?:-[ \t]+)?[\"']?(static_resources|dynamic_resources|admin|"
                   r"clusters|listeners|load_assignment|lb_endpoints|filter_chains|typed_config|"
                   r"virtual_hosts|connect_timeout|layered_runtime)[\"']?[ \t]*:")
_ROOTS = {"static_resources", "dynamic_resources"}
ROUTE_TIMEOUT = 15.0  # seconds: RouteAction.timeout when unset; its log family's default_timeout too
_DUMP = re.compile(r"\"@type\"\s*:\s*\"type\.googleapis\.com/envoy\.admin\.v3\.\w+ConfigDump\"")


class Envoy(BaseProxy):
    name = "envoy"
    vocabulary = Vocabulary(
        title="Envoy", long_title="Envoy", route="route", group="cluster",
        response_timeout="timeout", timeout_default="15s", timeout_state=" (response flag UT)",
        config_test="envoy --mode validate -c {config}",
        reload="restart Envoy: a static bootstrap is not re-read in place (hot restart with "
               "--restart-epoch, or a control plane's xDS)",
        default_config="/etc/envoy/envoy.yaml", default_error_log="",
        stats_word="Envoy", stats_target="upstream host", stats_timeout="route timeout",
        stats_timeout_column="timeout",
        stats_groups="Clusters (per upstream host; %DURATION% of the request)",
        # the cluster's transport_socket UpstreamTlsContext (sni, validation_context.trusted_ca)
        # and outlier_detection (consecutive_5xx, base_ejection_time): envoy's api v3 docs
        tls_server_name="sni in the cluster's UpstreamTlsContext", tls_name="sni",
        tls_trusted_ca="validation_context.trusted_ca in the cluster's UpstreamTlsContext",
        failure_count="outlier_detection.consecutive_5xx",
        failure_window="outlier_detection.base_ejection_time",
        no_server_answer="503 'no healthy upstream' (UH)",
        reuse_connections="the cluster's connection pool (reused by default)",
        # the cluster's upstream idle timeout, 1 h when unset (core/v3/protocol.proto
        # HttpProtocolOptions.idle_timeout): how long an idle pooled connection is kept
        keepalive_timeout="idle_timeout", keepalive_pool="idle connections per upstream host",
        # the admin interface (envoyproxy.io docs: operations/admin; the examples' port 9901)
        admin_api="http://127.0.0.1:9901", admin_flag="--envoy-admin",
        concurrency_limit="circuit breakers, W502-040",
        lb_timeout=ROUTE_TIMEOUT)
    # its HTTP/1.1 connection pool binds a request to a connection "done processing a previous
    # request", with no config (docs/root/intro/arch_overview/upstream/connection_pooling.rst;
    # the cluster's idle_timeout, 1 h by default, closes it): the keep-alive race needs no opt-in
    capabilities = frozenset({Capability.CONFIG_DUMP, Capability.KEEPALIVE_BY_DEFAULT})
    detection = Detection(programs=())
    hooks = Hooks(load_config="why502.proxies.envoy.config:load_envoy",
                  lint_rules="why502.proxies.envoy.lint",
                  lint_input="why502.proxies.envoy.lint:LINT",
                  fix_service="why502.proxies.envoy.fix:Envoy",
                  lab_runtime="why502.proxies.envoy.lab:start_envoy",
                  config_facts="why502.proxies.envoy.facts:envoy_facts",
                  log_family="why502.proxies.envoy.log:ENVOY",
                  facts="why502.proxies.envoy.facts",
                  # its admin API: /clusters, /stats, /config_dump (live_groups, dump_config)
                  source="why502.proxies.envoy.source",
                  # Istio, Envoy Gateway, any xDS: changes said in their terms, never applied
                  managed="why502.proxies.envoy.xds:managed", edits="why502.proxies.envoy.edit")

    def detect(self, raw: str, masked: str) -> int:
        """A bootstrap's keys at line starts (YAML), a JSON document whose top keys are a
        bootstrap's, or an admin ``/config_dump`` (``configs`` of ``...ConfigDump``)."""
        head = raw.lstrip()
        if head.startswith("{"):
            return self._detect_json(head)
        keys = {m.group(1) for m in _KEYS.finditer(raw)}
        if not keys & _ROOTS:
            return 0
        return CERTAIN if keys & {"clusters", "listeners", "admin"} else len(keys)

    @staticmethod
    def _detect_json(text: str) -> int:
        import json

        try:
            doc = json.loads(text)
        except ValueError:  # the first MiB of a larger file: its keys, not parsed
            if _DUMP.search(text):
                return CERTAIN
            return CERTAIN if re.search(r"\"static_resources\"\s*:\s*\{", text) else 0
        if not isinstance(doc, dict):
            return 0
        from why502.proxies.envoy.config import looks_like_dump

        if looks_like_dump(doc) or set(doc) & _ROOTS:
            return CERTAIN
        return 0

    def reload_commands(self, config: str | None, *, prefix: str | None = None) -> list[str]:
        return [self.vocabulary.config_test.format(config=config or self.vocabulary.default_config),
                self.vocabulary.reload]

    def show_group_commands(self, group: str | None) -> list[str]:
        """The admin API's ``/clusters`` (each host's health flags and counters; Istio's admin
        listens on localhost:15000) and, in a mesh, istioctl's view of the endpoints."""
        flt = f"^{group}::.*" if group else ""
        return [f"curl -s localhost:15000/clusters | grep -E "
                f"'{flt}(health_flags|cx_connect_fail|rq_timeout)'",
                f"istioctl proxy-config endpoints POD --cluster {group or 'CLUSTER'}"]

    def response_timeout(self, settings: Mapping[str, Setting], kind: str
                         ) -> tuple[str, Setting | None]:
        return "timeout", settings.get("timeout")

    def timeout_seconds(self, setting: Setting | None) -> float | None:
        """The route's ``timeout`` in seconds; 15 s when unset; None when it is 0 (disabled)."""
        from why502.proxies.envoy.config import duration_seconds

        if setting is None:
            return 15.0
        secs = duration_seconds(setting.value)
        return secs if secs else None

    def timeout_diff(self, files: Mapping[str, tuple[str, ...]], name: str, setting: Setting | None,
                     route: tuple[str | None, int | None], target: tuple[str | None, int | None],
                     seconds: int, anchor: str | None = None) -> str | None:
        """The route's ``timeout``: replaced where it is set; else added to the ``route:``
        action of the route at ``route`` (file, line of the route's mapping)."""
        from why502.proxies.envoy.config import parse_envoy_text
        from why502.proxies.envoy.edit import add_key, set_value

        path, line = route
        if path is None or path not in files:
            return None
        cfg = parse_envoy_text("\n".join(files[path]) + "\n", path)
        found = next((r for r in cfg.routes if r.line == line), None)
        if found is None or found.action is None:
            return None
        value = f"{seconds}s"
        if "timeout" in found.settings:
            return set_value(files, path, found.action, "timeout", value, as_json=cfg.json)
        return add_key(files, path, found.action, "timeout", value, as_json=cfg.json)


PROXY = Envoy()
