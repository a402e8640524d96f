"""cloudflared, Cloudflare Tunnel's connector: a locally managed tunnel's ``config.yml``.

A route is an ingress rule (``hostname``, ``path``), a group the origin service it names
(``service:``; cloudflared's log names it so: ``originService=``, proxy/logger.go).  cloudflared
has no response timeout of its own: the origin's ``http.Transport`` gets no
``ResponseHeaderTimeout`` (ingress/origin_service.go ``newHTTPTransport``), so a slow origin is cut
by Cloudflare's edge, which answers 524 after 100 s ("Error 524",
https://developers.cloudflare.com/support/troubleshooting/http-status-codes/cloudflare-5xx-errors/error-524/).
Its timers are ``originRequest``'s (``config.py``: connectTimeout, tlsTimeout, tcpKeepAlive,
keepAliveTimeout, keepAliveConnections).

Config test: ``cloudflared tunnel --config FILE ingress validate`` ("Validates the configuration
file, ensuring your ingress rules are OK", cmd/cloudflared/tunnel/ingress_subcommands.go).
Reload: none -- ``cloudflared tunnel run`` reads the file when it starts (only the flag-less
legacy service mode watches it, cmd/cloudflared/main.go ``handleServiceMode``); the service that
``cloudflared service install`` writes is ``cloudflared.service`` (cmd/cloudflared/
linux_service.go), restarted.  A restart drops the tunnel's connections for a moment, so why502's
``fix`` does not drive it: no fix service; ``lint`` prints the diffs to apply by hand.  No
cloudflared binary was installed on the machine that built this: nothing here runs it.
"""

from __future__ import annotations

from collections.abc import Mapping

from why502.facts.setting import Setting
from why502.proxies.base import CERTAIN, BaseProxy, Capability, Detection, Hooks, Vocabulary


class Cloudflared(BaseProxy):
    name = "cloudflared"
    vocabulary = Vocabulary(
        title="cloudflared", long_title="cloudflared (Cloudflare Tunnel)", route="ingress rule",
        group="origin service",
        response_timeout="(none: Cloudflare's edge answers 524 after 100 s)",
        timeout_default="none", timeout_state="",
        config_test="cloudflared tunnel --config {config} ingress validate",
        reload="systemctl restart cloudflared   # cloudflared reads config.yml when it starts",
        default_config="/etc/cloudflared/config.yml", default_error_log="journalctl -u cloudflared",
        stats_word="cloudflared", stats_target="origin", stats_timeout="connectTimeout",
        stats_timeout_column="connectTimeout",
        keepalive_timeout="originRequest.keepAliveTimeout",
        keepalive_pool="originRequest.keepAliveConnections",
        tls_name="originRequest.originServerName", tls_verify="originRequest.noTLSVerify: false",
        tls_trusted_ca="originRequest.caPool",
        reuse_connections="originRequest.keepAliveConnections",
        service="cloudflared.service",
        lint_help=("(--config config.yml, a locally managed tunnel): a last ingress rule that is not "
                   "the catch-all, services on localhost, keepAliveTimeout at or above the origin's "
                   "keep-alive (--backend-keepalive), TLS settings beside a rule's service"),
        lint_example="--backend-keepalive 5")
    capabilities = frozenset({Capability.PEER_AS_WRITTEN, Capability.KEEPALIVE_BY_DEFAULT})
    detection = Detection(programs=("cloudflared",), priority=1, packaged_configs=(
        "/etc/cloudflared/config.yml", "/etc/cloudflared/config.yaml",
        "/usr/local/etc/cloudflared/config.yml", "/usr/local/etc/cloudflared/config.yaml"))
    hooks = Hooks(load_config="why502.proxies.cloudflared.config:load_cloudflared",
                  lint_rules="why502.proxies.cloudflared.lint", fix_service="", lab_runtime="",
                  lint_input="why502.proxies.cloudflared.lint:LINT",
                  config_facts="why502.proxies.cloudflared.facts:edge_facts",
                  log_family="why502.proxies.cloudflared.log:CLOUDFLARED",
                  facts="why502.proxies.cloudflared.facts", edits="why502.proxies.cloudflared.edit")

    def detect(self, raw: str, masked: str) -> int:
        """``tunnel:`` / ``credentials-file:`` and an ``ingress:`` list of services
        (``detect.detect_score``)."""
        from why502.proxies.cloudflared.detect import detect_score

        return detect_score(raw, masked, CERTAIN)

    def reload_commands(self, config: str | None, *, prefix: str | None = None) -> list[str]:
        cfg = config or self.vocabulary.default_config
        return [self.vocabulary.config_test.format(config=cfg), self.vocabulary.reload]

    def show_group_commands(self, group: str | None) -> list[str]:
        """Which rule a URL matches (``cloudflared tunnel ingress rule URL``,
        ingress_subcommands.go) and the tunnel's connections (``cloudflared tunnel info``)."""
        return ["cloudflared tunnel --config /etc/cloudflared/config.yml ingress rule https://HOSTNAME/PATH",
                "cloudflared tunnel info TUNNEL   # the tunnel's connectors and their connections"]

    def response_timeout(self, settings: Mapping[str, Setting], kind: str
                         ) -> tuple[str, Setting | None]:
        """None: cloudflared waits for the origin's answer without limit (module docstring)."""
        return "connectTimeout", None

    def timeout_seconds(self, setting: Setting | None) -> float | None:
        return None

    def timeout_diff(self, files: Mapping[str, tuple[str, ...]], name: str, setting: Setting | None,
                     route: tuple[str | None, int | None], target: tuple[str | None, int | None],
                     seconds: int, anchor: str | None = None) -> str | None:
        """No diff: there is no response timeout to raise in cloudflared's config."""
        return None


PROXY = Cloudflared()
