"""What a running master's /proc entries say (issue 31): nginx's ``-p`` and a relative ``-c``
(resolved as ``ngx_process_options()`` does, src/core/nginx.c), the systemd unit or container of
its cgroup, and the access logs a Caddy config writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

from why502.proxies.caddy.source import config_logs
from why502.proxies.nginx.process import PREFIX as NGINX_PREFIX
from why502.sources.proxyprocs import describe, parse_cgroup


def test_a_relative_c_is_relative_to_the_prefix_not_the_working_directory() -> None:
    p = describe("nginx", 1, ["nginx: master process nginx -p /srv/app -c conf/nginx.conf"])
    assert (p.config, p.prefix) == ("/srv/app/conf/nginx.conf", "/srv/app")
    # no -p: nginx's compiled-in prefix (`nginx -c nginx.conf` in /tmp read /usr/share/nginx/nginx.conf)
    q = describe("nginx", 1, ["nginx: master process nginx -c nginx.conf"])
    assert (q.config, q.prefix) == (f"{NGINX_PREFIX}/nginx.conf", None)
    r = describe("nginx", 1, ["nginx: master process /usr/sbin/nginx -c /etc/x/nginx.conf"])
    assert (r.config, r.prefix) == ("/etc/x/nginx.conf", None)


def test_the_unit_or_the_container_of_a_cgroup() -> None:
    assert parse_cgroup("0::/system.slice/nginx-app.service\n") == ("nginx-app.service", None)
    assert parse_cgroup("9:name=systemd:/system.slice/haproxy.service\n0::/\n") == ("haproxy.service", None)
    # a shell's session scope is no unit: `systemctl reload` would name nothing real
    assert parse_cgroup("0::/user.slice/user-0.slice/session-3.scope\n") == (None, None)
    cid = "0123456789abcdef" * 4
    assert parse_cgroup(f"0::/system.slice/docker-{cid}.scope\n") == (None, cid[:12])
    assert parse_cgroup(f"0::/kubepods/burstable/pod1/{cid}\n") == (None, cid[:12])
    assert parse_cgroup("") == (None, None)


def test_caddy_access_logs_from_a_caddyfile_and_from_json(tmp_path: Path) -> None:
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text("{\n  admin off\n}\n:80 {\n  log {\n    output file /var/log/caddy/a.log\n"
                         "  }\n  reverse_proxy 127.0.0.1:9\n}\n"
                         ":81 {\n  log {\n    output file \"b.log\"\n  }\n}\n")
    # a relative path is relative to Caddy's working directory (/proc/PID/cwd): this process's here
    here = os.path.join(os.getcwd(), "b.log")
    assert config_logs(str(caddyfile), os.getcwd()) == ("/var/log/caddy/a.log", here)
    conf = tmp_path / "caddy.json"
    conf.write_text(json.dumps({"logging": {"logs": {"default": {"writer": {
        "output": "file", "filename": "/var/log/caddy/access.json"}}}}}))
    assert config_logs(str(conf), None) == ("/var/log/caddy/access.json",)
    assert config_logs(str(tmp_path / "missing"), None) == ()
