"""Caddy 2: a Caddyfile (or its JSON), ``reverse_proxy`` handlers, an admin API.

Response timeout: ``response_header_timeout`` of ``transport http``, none by default (Go's
``http.Transport.ResponseHeaderTimeout`` 0: no limit; modules/caddyhttp/reverseproxy/
httptransport.go).  A route is a site block's matchers (``handle``, a path matcher); a group is
one ``reverse_proxy``'s upstreams.  The config test is ``caddy validate --config FILE``, the
reload ``caddy reload --config FILE`` (https://caddyserver.com/docs/command-line).  Its live
state: the admin API's ``GET /reverse_proxy/upstreams`` (``address``, ``num_requests``,
``fails``: reverseproxy/admin.go ``upstreamStatus``).
"""

from __future__ import annotations

from collections.abc import Mapping

from why502.facts.setting import Setting
from why502.proxies.base import CERTAIN, BaseProxy, Capability, Detection, Hooks, Vocabulary


class Caddy(BaseProxy):
    name = "caddy"
    vocabulary = Vocabulary(
        title="Caddy", long_title="Caddy", route="route", group="reverse_proxy handler",
        response_timeout="response_header_timeout", timeout_default="none (no limit)",
        timeout_state="", config_test="caddy validate --config {config}",
        reload="caddy reload --config {config}",
        default_config="/etc/caddy/Caddyfile", default_error_log="journalctl -u caddy",
        stats_word="Caddy", stats_target="upstream", stats_timeout="response_header_timeout",
        stats_timeout_column="response_header_timeout", keepalive_timeout="keepalive",
        keepalive_pool="idle connections per upstream host",
        # reverse_proxy's transport http (tls_server_name, tls_trusted_ca_certs, keepalive) and
        # passive health checks (max_fails, fail_duration): caddyserver.com/docs/caddyfile/
        # directives/reverse_proxy; "no upstreams available" is its 503 (reverseproxy.go)
        tls_server_name="tls_server_name in the transport http block", tls_name="tls_server_name",
        tls_trusted_ca="tls_trusted_ca_certs in the transport http block",
        failure_count="max_fails", failure_window="fail_duration",
        no_server_answer="503 'no upstreams available'",
        all_failed=("Every upstream of {name} was marked unhealthy (by Caddy's active health checks, or "
                    "by its passive ones after max_fails failures within fail_duration), so Caddy had "
                    "none to try and answered 503 'no upstreams available'."),
        reuse_connections="keepalive in the transport http block (on by default)",
        # caddyserver.com/docs/command-line (caddy validate, caddy reload); the package's unit
        applied_commands=(r"caddy (validate|reload)", r"systemctl (reload|restart) caddy"),
        fix_test="caddy validate", fix_reload="caddy reload through its loopback admin API",
        # the packaged caddy.service; its error logger (http.log.error) says why it made a 5xx
        service="caddy.service", error_lines="the http.log.error lines",
        # https://caddyserver.com/docs/caddyfile/directives/log (output file; format json)
        access_log_statement="log { output file ... }",
        access_log_to_file="a log directive writing JSON to a file")
    capabilities = frozenset({Capability.PEER_AS_WRITTEN, Capability.EDGE_PROCESS,
                              Capability.KEEPALIVE_BY_DEFAULT})
    detection = Detection(programs=("caddy",), priority=1, log_sources=("go-proxy",))
    hooks = Hooks(load_config="why502.proxies.caddy.source:load_config",
                  lint_rules="why502.proxies.caddy.lint",
                  fix_service="why502.proxies.caddy.fix:Caddy",
                  lab_runtime="why502.proxies.caddy.lab:start_caddy",
                  diagnose_view="why502.proxies.caddy.diagnose:read_caddy",
                  lint_input="why502.proxies.caddy.lint:LINT",
                  config_facts="why502.proxies.caddy.facts:edge_facts",
                  log_family="why502.proxies.caddy.log:CADDY",
                  source="why502.proxies.caddy.source", facts="why502.proxies.caddy.facts",
                  edge_run="why502.proxies.caddy.source:edge_run", edits="why502.proxies.caddy.edit")

    def detect(self, raw: str, masked: str) -> int:
        """A JSON config with ``apps`` and ``servers`` (``caddy adapt``'s output, an admin
        ``/config/`` answer), else the Caddyfile's directive lines (``detect.score``)."""
        from why502.proxies.caddy.detect import looks_like_json, score

        if looks_like_json(raw):
            return CERTAIN
        return score(masked)

    def reload_commands(self, config: str | None, *, prefix: str | None = None) -> list[str]:
        cfg = config or self.vocabulary.default_config
        return [f"caddy validate --config {cfg}", f"caddy reload --config {cfg}"]

    def show_group_commands(self, group: str | None) -> list[str]:
        return ["curl -s localhost:2019/reverse_proxy/upstreams"]

    def response_timeout(self, settings: Mapping[str, Setting], kind: str
                         ) -> tuple[str, Setting | None]:
        return "response_header_timeout", settings.get("response_header_timeout")

    def timeout_seconds(self, setting: Setting | None) -> float | None:
        """None unless set: Caddy waits for a response header without limit by default."""
        from why502.proxies.caddy.config import duration_seconds

        return duration_seconds(setting.value) if setting is not None else None

    def timeout_diff(self, files: Mapping[str, tuple[str, ...]], name: str, setting: Setting | None,
                     route: tuple[str | None, int | None], target: tuple[str | None, int | None],
                     seconds: int, anchor: str | None = None) -> str | None:
        from why502.proxies.caddy.edit import set_subdirective

        return set_subdirective(files, route[0] or target[0], route[1] or target[1], name,
                                f"{seconds}s")


PROXY = Caddy()
