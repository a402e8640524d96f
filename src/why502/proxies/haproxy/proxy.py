"""HAProxy: sections without braces, health-checked servers, a runtime API.

Response timeout: ``timeout server``, no default (infinite, configuration.txt 4.2); a request it
cut is logged with termination state ``sH`` (8.5).  The config test is ``haproxy -c -f FILE``
(management.txt 3).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from why502.facts.setting import Setting
from why502.proxies.base import CERTAIN, BaseProxy, Capability, Detection, Hooks, Vocabulary

_SECTION = re.compile(r"(?m)^(global|defaults|frontend|backend|listen)\b")
# anonymous ACLs ``if { path_beg /x/ }``: braces delimited by spaces, on one line
# (configuration.txt 7.2 "Using ACLs": "the braces must be delimited by spaces")
_ANONYMOUS_ACL = re.compile(r"(?<=[\s!])\{\s[^{}\n]*\s\}(?=\s|$)", re.M)


class Haproxy(BaseProxy):
    name = "haproxy"
    vocabulary = Vocabulary(
        title="HAProxy", long_title="HAProxy", route="backend", group="backend",
        response_timeout="timeout server", timeout_default="infinite",
        timeout_state=" (termination state sH)",
        config_test="haproxy -c -f {config}", reload="systemctl reload haproxy",
        default_config="/etc/haproxy/haproxy.cfg", default_error_log="/var/log/haproxy.log",
        stats_word="haproxy", stats_target="server", stats_timeout="timeout server",
        stats_timeout_column="timeout server",
        relayed_5xx="ended with the server's headers passed on (termination state ---- or a D/L "
                    "phase, configuration.txt 8.5: the server sent them)",
        stats_groups="Servers (per attempt; p50..max of Tc+Tr, the time to the response headers, or of "
                     "Ta where none came)",
        # configuration.txt 5.2 server keywords (sni, verify, ca-file; fall/inter), 4.2 http-reuse
        tls_server_name="sni req.hdr(host) on the server line", tls_name="sni",
        tls_verify="verify required on the server line", tls_trusted_ca="ca-file on the server line",
        failure_count="fall", failure_window="inter", no_server_answer="503 (no server available)",
        reuse_connections="http-reuse safe (the default) and no option httpclose in the backend",
        environment=(("WHY502_HAPROXY", "lab: the haproxy binary to run (default: /usr/sbin/haproxy, "
                                        "then PATH)"),),
        # management.txt 3 (-c: check the config), the package's unit
        applied_commands=(r"haproxy -c", r"systemctl (reload|restart) haproxy"),
        lint_example="--backend-timeout 60",
        fix_test="haproxy -c -f", fix_reload="SIGUSR2 to a HAProxy master-worker or haproxy -sf",
        take_out_help="`set server B/S state maint` on the stats socket, no reload, config untouched",
        lint_help=("(--config haproxy.cfg): servers without health checks, timeout server unset or shorter "
                   "than the backend's "
                   "(--backend-timeout), retries without option redispatch, maxconn without timeout "
                   "queue"),
        # Debian's haproxy.service; management.txt 9.3 "show servers state"
        service="haproxy.service", runtime_servers="HAProxy runtime API: show servers state")
    capabilities = frozenset({Capability.HEALTH_CHECKED_SERVERS, Capability.WATCH,
                              Capability.LOGS_THROUGH_SYSLOG, Capability.PEER_AS_WRITTEN})
    detection = Detection(programs=("haproxy",), priority=2, sbin=("/usr/sbin/haproxy",))
    hooks = Hooks(load_config="why502.proxies.haproxy.source:load_config",
                  native_log_reader="why502.proxies.haproxy._hapscan",
                  lint_rules="why502.proxies.haproxy.lint",
                  lint_input="why502.proxies.haproxy.lint:LINT",
                  fix_service="why502.proxies.haproxy.fix:Haproxy",
                  lab_runtime="why502.proxies.haproxy.lab:start_haproxy",
                  mitigate="why502.proxies.haproxy.mitigate:STOPGAPS",
                  access_log="why502.proxies.haproxy.stats:haproxy_for_diagnose",
                  access_feed="why502.proxies.haproxy.stats:HttplogFeed",
                  master_args="why502.proxies.haproxy.process:master_args",
                  diagnose_view="why502.proxies.haproxy.diagnose:read_haproxy",
                  source="why502.proxies.haproxy.source", facts="why502.proxies.haproxy.facts",
                  watch_access="why502.proxies.haproxy.stats:haproxy_for_watch",
                  access_sniff="why502.proxies.haproxy.log:looks_like_httplog",
                  edits="why502.proxies.haproxy.edit", stats="why502.proxies.haproxy.stats",
                  watch_quiet="why502.proxies.haproxy.log:quiet",
                  classify_fold="why502.proxies.haproxy.classifyfold:fold_block",
                  classify_known="why502.proxies.haproxy.classifyfold:known_lines",
                  classify_jsonl="why502.proxies.haproxy.classifyfold:jsonl_block",
                  analyze="why502.proxies.haproxy.analyze")

    def detect(self, raw: str, masked: str) -> int:
        """Its section keywords at line starts and no brace outside strings, comments and
        anonymous ACLs (nginx has braces, Apache ``<Tags>``)."""
        starts = {m.group(1) for m in _SECTION.finditer(masked)}
        if not starts & {"frontend", "backend", "listen", "defaults"}:
            return 0
        return 0 if "{" in _ANONYMOUS_ACL.sub(" ", masked) else CERTAIN

    def show_group_commands(self, group: str | None) -> list[str]:
        return [f"haproxy -c -f {self.vocabulary.default_config}"]

    def response_timeout(self, settings: Mapping[str, Setting], kind: str
                         ) -> tuple[str, Setting | None]:
        return "timeout server", settings.get("timeout server")

    def timeout_seconds(self, setting: Setting | None) -> float | None:
        from why502.proxies.haproxy.config import time_ms

        ms = time_ms(setting.value) if setting else None
        return ms / 1000 if ms is not None else None

    def timeout_diff(self, files: Mapping[str, tuple[str, ...]], name: str, setting: Setting | None,
                     route: tuple[str | None, int | None], target: tuple[str | None, int | None],
                     seconds: int, anchor: str | None = None) -> str | None:
        from why502.proxies.haproxy.edit import set_keyword

        return set_keyword(files, name, f"{seconds}s", setting=setting, section_file=route[0],
                           section_line=route[1])


PROXY = Haproxy()
