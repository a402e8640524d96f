"""Traefik v2/v3: a dynamic configuration (file provider), routers, services, servers.

Response timeout: ``serversTransport``'s ``forwardingTimeouts.responseHeaderTimeout``, ``0s`` by
default: no limit (https://doc.traefik.io/traefik/routing/services/#serverstransport,
``pkg/config/dynamic/http_config.go``).  A route is a router (``http.routers.<name>``: ``rule``,
``service``), a group a service's ``loadBalancer`` servers.  Traefik has no config test: the
file provider re-reads the file on change when ``providers.file.watch`` is true (its default;
https://doc.traefik.io/traefik/providers/file/), and a config it cannot read is logged, the
previous one kept.  No Traefik binary is used: the config is read as a file.
"""

from __future__ import annotations

from collections.abc import Mapping

from why502.facts.setting import Setting
from why502.proxies.base import CERTAIN, BaseProxy, Capability, Detection, Hooks, Vocabulary


class Traefik(BaseProxy):
    name = "traefik"
    vocabulary = Vocabulary(
        title="Traefik", long_title="Traefik Proxy", route="router", group="service",
        response_timeout="serversTransport.forwardingTimeouts.responseHeaderTimeout",
        timeout_default="0s (no limit)", timeout_state="",
        config_test="(none: Traefik logs a dynamic config it cannot read and keeps the last one)",
        reload="(automatic: the file provider re-reads {config} on change, providers.file.watch)",
        default_config="/etc/traefik/dynamic.yml", default_error_log="docker logs traefik",
        stats_word="Traefik", stats_target="server", stats_timeout="responseHeaderTimeout",
        stats_timeout_column="responseHeaderTimeout",
        # serversTransport (serverName, rootCAs, maxIdleConnsPerHost):
        # doc.traefik.io/traefik/routing/services/#serverstransport
        tls_server_name="serverName of the service's serversTransport", tls_name="serverName",
        tls_trusted_ca="rootCAs of the service's serversTransport",
        reuse_connections="maxIdleConnsPerHost of the service's serversTransport",
        # its error lines are logged at DEBUG (log.level), not in the access log
        error_lines="its DEBUG log")
    capabilities = frozenset({Capability.PEER_AS_WRITTEN})
    detection = Detection(programs=("traefik",), priority=1)
    hooks = Hooks(load_config="why502.proxies.traefik.config:load_traefik",
                  lint_rules="why502.proxies.traefik.lint", fix_service="", lab_runtime="",
                  lint_input="why502.proxies.traefik.lint:LINT",
                  config_facts="why502.proxies.traefik.facts:edge_facts",
                  log_family="why502.proxies.traefik.log:TRAEFIK",
                  facts="why502.proxies.traefik.facts")

    def detect(self, raw: str, masked: str) -> int:
        """A dynamic config: ``http.routers`` / ``http.services`` (YAML keys or TOML tables)."""
        from why502.proxies.traefik.detect import looks_like_dynamic

        return CERTAIN if looks_like_dynamic(raw) else 0

    def reload_commands(self, config: str | None, *, prefix: str | None = None) -> list[str]:
        """None to run: the file provider reloads the file itself when it changes."""
        return []

    def show_group_commands(self, group: str | None) -> list[str]:
        """Traefik's API (``api`` enabled, on the ``traefik`` entry point, :8080 by default:
        https://doc.traefik.io/traefik/operations/api/) lists the services and their servers'
        status: ``GET /api/http/services``."""
        return ["curl -s localhost:8080/api/http/services   # Traefik API: servers and their status"]

    def response_timeout(self, settings: Mapping[str, Setting], kind: str
                         ) -> tuple[str, Setting | None]:
        return "responseHeaderTimeout", settings.get("responseHeaderTimeout")

    def timeout_seconds(self, setting: Setting | None) -> float | None:
        """None for 0s (the default): Traefik waits for the response header without limit."""
        from why502.proxies.traefik.config import duration_seconds

        return duration_seconds(setting.value) if setting is not None else None

    def timeout_diff(self, files: Mapping[str, tuple[str, ...]], name: str, setting: Setting | None,
                     route: tuple[str | None, int | None], target: tuple[str | None, int | None],
                     seconds: int, anchor: str | None = None) -> str | None:
        """No diff: the timeout is a ``serversTransport`` the service must name; not written."""
        return None


PROXY = Traefik()
