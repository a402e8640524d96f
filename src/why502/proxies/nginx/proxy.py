"""nginx: the proxy the catalog's words are written for.

Response timeout: ``proxy_read_timeout`` (``fastcgi_``/``uwsgi_``/``scgi_``/``grpc_`` for the
other modules), 60 s by default (``ngx_http_proxy_merge_loc_conf``, src/http/modules/
ngx_http_proxy_module.c).  The master rewrites its title to ``nginx: master process ...``
(``ngx_setproctitle()``, src/os/unix/ngx_setproctitle.c).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from why502.facts.setting import Setting
from why502.proxies.base import CERTAIN, BaseProxy, Capability, Detection, Hooks, Vocabulary

# block openers, an `nginx -T` dump's headers (on the raw text: they are comments), directives
_MARKS = re.compile(r"(?m)^[^\S\n]*(?:(?:http|events|server|upstream|location|stream)\b[^;#\n]*\{|"
                    r"worker_processes\s|(?:proxy|fastcgi)_pass\s)")
_DUMP = re.compile(r"(?m)^# configuration file \S+:$")


class Nginx(BaseProxy):
    name = "nginx"
    vocabulary = Vocabulary(
        title="nginx", long_title="nginx", route="location", group="upstream",
        response_timeout="proxy_read_timeout", timeout_default="60s", timeout_state="",
        config_test="nginx -t", reload="systemctl reload nginx",
        default_config="/etc/nginx/nginx.conf", default_error_log="/var/log/nginx/error.log",
        stats_word="nginx",
        # ngx_http_proxy_module (proxy_ssl_*), ngx_http_upstream_module (server max_fails=,
        # fail_timeout=; keepalive: "proxy_http_version should be set to 1.1 and the Connection
        # header field should be cleared"; fastcgi_keep_conn for FastCGI)
        tls_server_name="proxy_ssl_server_name on (and proxy_ssl_name if the name differs)",
        tls_name="proxy_ssl_name", tls_verify="proxy_ssl_verify on",
        tls_trusted_ca="proxy_ssl_trusted_certificate", failure_count="max_fails",
        failure_window="fail_timeout", no_server_answer="'no live upstreams'",
        reuse_connections='upstream keepalive + proxy_http_version 1.1 + proxy_set_header Connection ""',
        reuse_requires=(("proxy", "proxy_http_version", "1.1", "proxy_http_version 1.1;", "http11"),
                        ("proxy", "proxy_set_header:Connection", "", 'proxy_set_header Connection "";',
                         "clear_connection"),
                        ("fastcgi", "fastcgi_keep_conn", "on", "fastcgi_keep_conn on;", "keep_conn")),
        reuse_off_by_default="nginx proxies with HTTP/1.0 and 'Connection: close' unless told otherwise",
        reuse_fix="speak HTTP/1.1 to the upstream and clear the Connection header",
        # why502's first names, from when it read nginx only: kept as aliases of --config,
        # --proxy-binary and lint's positional config (proxies.option_aliases)
        config_flag="--nginx-conf", binary_flag="--nginx", config_argument="NGINX_CONF",
        config_dump="nginx -T",  # nginx(8): "-T  Same as -t, but additionally dump configuration files"
        environment=(("WHY502_NGINX", "lab: the nginx binary to run (default: /usr/sbin/nginx, then PATH)"),),
        # nginx(8) -t, -s reload; the package's unit
        applied_commands=(r"nginx -t", r"nginx -s reload", r"systemctl (reload|restart) nginx"),
        # kubernetes.github.io/ingress-nginx: the controller's Deployment in its manifests
        k8s_logs="deploy/ingress-nginx-controller",
        fix_test="nginx -t", fix_reload="nginx -s reload", take_out_help="`down` on the server line",
        fallback_help="proxy_cache_use_stale where a cache exists, else a small static 503 with Retry-After",
        lint_help=("upstream keepalive without HTTP/1.1, names resolved only at start, variable "
                   "proxy_pass without resolver, buffers smaller than the backend's headers, timeouts "
                   "shorter than the backend's, PHP-FPM socket path/permissions/backlog, and more"),
        # nginx(8) -T; Debian's nginx.service; NGX_MAX_ERROR_STR (src/core/ngx_log.h)
        service="nginx.service",
        error_line_cut="nginx's 2048-byte limit (NGX_MAX_ERROR_STR)",
        # --http-log-path of the Debian and nginx.org packages (auto/options: logs/access.log
        # under the prefix when built without it)
        default_access_log="/var/log/nginx/access.log")
    capabilities = frozenset({Capability.CONFIG_SERVER_MARKS, Capability.CATALOG_WORDING,
                              Capability.CONFIG_DUMP, Capability.LINT_HOST_FACTS, Capability.WATCH,
                              Capability.ENGINE_LOGS})
    detection = Detection(programs=("nginx",), title_prefix="nginx:",
                          include=re.compile(r"(?m)^[^\S\n]*include\s+(\S+?);"),
                          sbin=("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"),
                          packaged_configs=("/etc/nginx/nginx.conf",),
                          # no user directive: NGX_USER/NGX_GROUP, "nobody" and "nobody" or
                          # "nogroup" where there is none (auto/unix, src/core/nginx.c)
                          worker_user="nobody", worker_groups=("nobody", "nogroup"))
    hooks = Hooks(load_config="why502.proxies.nginx.source:load_config",
                  source="why502.proxies.nginx.source",
                  lint_rules="why502.proxies.nginx.lint",
                  lint_input="why502.proxies.nginx.lint:LINT",
                  fix_service="why502.proxies.nginx.fix:Nginx",
                  lab_runtime="why502.proxies.nginx.lab:start_nginx",
                  master_args="why502.proxies.nginx.process:master_args",
                  mitigate="why502.proxies.nginx.mitigate:STOPGAPS",
                  edits="why502.proxies.nginx.config.edit",
                  diagnose_view="why502.proxies.nginx.diagnose:read_nginx",
                  facts="why502.proxies.nginx.facts",
                  lint_config="why502.proxies.nginx.source:lint_config",
                  stats="why502.proxies.nginx.stats",
                  native_scanner="why502.proxies.nginx._scan")

    def detect(self, raw: str, masked: str) -> int:
        if _DUMP.search(raw):
            return CERTAIN - 1  # below a HAProxy or apachectl certainty, above any count
        return len(_MARKS.findall(masked))

    def reload_commands(self, config: str | None, *, prefix: str | None = None) -> list[str]:
        """The packaged config: ``nginx -t`` and the package's unit.  Any other (an nginx
        started with ``-c FILE``): a bare ``nginx -t`` would test /etc/nginx and ``systemctl
        reload nginx`` reload another nginx, so both name FILE (``nginx -s reload`` signals the
        master whose pid file FILE names: nginx(8), ``-s signal``), and the master's ``-p
        PREFIX`` when it had one (its relative pid and log paths are under it)."""
        p = f"-p {prefix} " if prefix else ""
        packaged = os.path.realpath(self.vocabulary.default_config)
        if prefix or (config and os.path.realpath(config) != packaged):
            return [f"nginx -t {p}-c {config}", f"nginx -s reload {p}-c {config}"]
        return ["nginx -t", "systemctl reload nginx"]

    def show_group_commands(self, group: str | None) -> list[str]:
        return ["nginx -T | grep -A8 'upstream " + (group or "") + "'"]

    def response_timeout(self, settings: Mapping[str, Setting], kind: str
                         ) -> tuple[str, Setting | None]:
        name = f"{kind}_read_timeout"
        return name, settings.get(name)

    def timeout_diff(self, files: Mapping[str, tuple[str, ...]], name: str, setting: Setting | None,
                     route: tuple[str | None, int | None], target: tuple[str | None, int | None],
                     seconds: int, anchor: str | None = None) -> str | None:
        from why502.proxies.nginx.config.edit import set_directive  # not imported at --help

        # the block is the one of the ``*_pass`` its timer belongs to (``proxy_read_timeout``:
        # ``proxy_pass``): what finds it on a config written on one line
        if anchor is None and name.endswith("_read_timeout"):
            anchor = name.removesuffix("_read_timeout") + "_pass"
        return set_directive(files, name, f"{seconds}s", setting_file=setting.file if setting else None,
                             setting_line=setting.line if setting else None,
                             is_default=setting.is_default if setting else True,
                             anchor_file=route[0] or target[0], anchor_line=route[1] or target[1],
                             anchor=anchor)


PROXY = Nginx()
