"""Apache httpd with mod_proxy.

Response timeout: the worker's ``timeout=``, else ``ProxyTimeout``, else ``Timeout`` (60 s,
``DEFAULT_TIMEOUT`` in include/httpd.h; mod_proxy.html#proxytimeout); a worker in error state is
not retried for ``retry=`` seconds (60 by default, mod_proxy.html#proxypass).  Comments start a
line only (configuring.html "Syntax of the Configuration Files").
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from why502.facts.setting import Setting
from why502.proxies.base import CERTAIN, BaseProxy, Capability, Detection, Hooks, Vocabulary

_MARKS = re.compile(r"(?mi)^[^\S\n]*(?:<(?:VirtualHost|Directory|Location|Proxy|IfModule)\b|"
                    r"(?:ServerRoot|LoadModule|ProxyPass|ProxyPassMatch|IncludeOptional|"
                    r"DocumentRoot|ErrorLog|CustomLog|LogFormat|BalancerMember|Listen)\s)")


class Apache(BaseProxy):
    name = "apache"
    vocabulary = Vocabulary(
        title="Apache", long_title="Apache httpd", route="location", group="balancer",
        response_timeout="ProxyTimeout", timeout_default="60s", timeout_state="",
        config_test="apachectl configtest", reload="systemctl reload apache2",
        default_config="/etc/apache2/apache2.conf", default_error_log="/var/log/apache2/error.log",
        stats_word="Apache",
        # mod_ssl (SSLProxyVerify, SSLProxyCACertificateFile), mod_proxy worker parameters
        # (retry=, enablereuse=/disablereuse=): mod_proxy.html, mod_ssl.html
        tls_verify="SSLProxyVerify require", tls_trusted_ca="SSLProxyCACertificateFile",
        failure_window="retry=", no_server_answer="503 (all workers in error state)",
        all_failed=("Every worker of {name} was in error state (Apache disables a worker that failed "
                    "for retry= seconds, 60 by default), so Apache had none to try and answered 503."),
        reuse_connections="enablereuse=on (disablereuse=Off) on the worker's ProxyPass/BalancerMember",
        environment=(("WHY502_APACHE2", "lab: the Apache httpd binary to run (default: apache2, then "
                                        "httpd)"),),
        # apachectl(8) configtest, httpd(8) -t; Debian's apache2 and Red Hat's httpd units
        applied_commands=(r"apache2ctl configtest", r"apachectl configtest", r"apache2 -t",
                          r"systemctl (reload|restart) (apache2|httpd)"),
        lint_example="--fpm-conf /etc/php/8.2/fpm --format sarif",
        fix_test="apache2 -t -f", fix_reload="Apache's graceful restart",
        take_out_help="status=+D on the BalancerMember line",
        lint_help=("(--config apache2.conf, includes followed): enablereuse to PHP-FPM beyond the pool's "
                   "pm.max_children "
                   "(--fpm-conf), the proxy timeout below the backend's, BalancerMembers without "
                   "retry="),
        service="apache2.service")  # Debian's apache2 package
    capabilities = frozenset({Capability.CONFIG_DUMP, Capability.WATCH, Capability.PEER_AS_WRITTEN,
                              Capability.PEER_SOCKET_PATH})
    # on equal counts Apache wins (its marks are CamelCase directives nginx does not have)
    detection = Detection(programs=("apache2", "httpd"), priority=1, hash_comments_anywhere=False,
                          include=re.compile(r"(?mi)^[^\S\n]*Include(?:Optional)?\s+(\S+)"),
                          sbin=("/usr/sbin/apache2", "/usr/sbin/httpd"))
    hooks = Hooks(load_config="why502.proxies.apache.config:load_apache",
                  line_memo="why502.proxies.apache.error_memo:ApacheMemo",
                  classify_known="why502.proxies.apache.known:known_lines",
                  lint_rules="why502.proxies.apache.lint",
                  lint_input="why502.proxies.apache.lint:LINT",
                  fix_service="why502.proxies.apache.fix:Apache",
                  lab_runtime="why502.proxies.apache.lab:start_apache",
                  access_log="why502.proxies.apache.stats:apache_for_diagnose",
                  error_sniff="why502.proxies.apache.log:looks_like_error_log",
                  master_args="why502.proxies.apache.process:master_args",
                  mitigate="why502.proxies.apache.mitigate:STOPGAPS",
                  diagnose_view="why502.proxies.apache.diagnose:read_apache",
                  source="why502.proxies.apache.source", facts="why502.proxies.apache.facts",
                  watch_access="why502.proxies.apache.stats:apache_for_watch",
                  stats="why502.proxies.apache.stats",
                  edits="why502.proxies.apache.edit")

    def detect(self, raw: str, masked: str) -> int:
        from why502.proxies.apache.detect import looks_like_dump

        if looks_like_dump(raw):  # apachectl -S / apache2 -t -D DUMP_INCLUDES output
            return CERTAIN
        return len(_MARKS.findall(masked))

    def reload_commands(self, config: str | None, *, prefix: str | None = None) -> list[str]:
        return ["apachectl configtest", "systemctl reload apache2"]

    def show_group_commands(self, group: str | None) -> list[str]:
        return [f"apachectl -S; grep -rn -A4 '{group or 'Proxy'}' /etc/apache2/"]

    def response_timeout(self, settings: Mapping[str, Setting], kind: str
                         ) -> tuple[str, Setting | None]:
        return "ProxyTimeout", settings.get("timeout")

    def timeout_diff(self, files: Mapping[str, tuple[str, ...]], name: str, setting: Setting | None,
                     route: tuple[str | None, int | None], target: tuple[str | None, int | None],
                     seconds: int, anchor: str | None = None) -> str | None:
        from why502.proxies.apache.edit import apache_timeout_diff

        return apache_timeout_diff(files, setting, route[0], route[1], seconds)


PROXY = Apache()
