"""``why502 diagnose`` with no flags on a host running several proxies: a real nginx and a real
HAProxy, started here, are found in ``/proc`` (the scan limited to this test's PIDs with
``WHY502_PROC_PIDS``), each is diagnosed, and every finding names its proxy in JSON and text."""

from __future__ import annotations

import json

import pytest

from tests.support.clirun import why502
from why502.lab.runtime import Stack, find_nginx
from why502.lab.runtime.machine import find_haproxy, free_port
from why502.proxies.haproxy.lab import haproxy_paths
from why502.sources.proxyprocs import describe

pytestmark = [pytest.mark.real,
              pytest.mark.skipif(find_nginx() is None or find_haproxy() is None,
                                 reason="needs nginx and haproxy")]


def test_nginx_and_haproxy_found_running_and_each_diagnosed() -> None:
    with Stack() as web, Stack() as lb:
        gone_web, gone_lb = free_port(), free_port()  # nothing listens on either
        web.start_nginx(f"server {{ listen {web.listen}; "
                        f"location / {{ proxy_pass http://127.0.0.1:{gone_web}; }} }}")
        assert web.request("/").status == 502
        lb.start_haproxy(f"server web1 127.0.0.1:{gone_lb}", master_worker=True)
        assert lb.request("/").status == 503
        assert web.nginx is not None and lb.proxy is not None
        env = {"WHY502_PROC_PIDS": f"{web.nginx.pid},{lb.proxy.pid}"}
        res = why502("diagnose", "--format", "json", env=env)
        assert res.returncode == 1, res.stderr
        report = json.loads(res.stdout)
        found = {d["proxy"]: (d["pid"], d["config"]) for d in report["inputs"]["discovered"]}
        assert found == {"nginx": (web.nginx.pid, str(web.p.nginx_conf)),
                         "haproxy": (lb.proxy.pid, str(haproxy_paths(lb)[0]))}
        by_proxy = {(f["proxy"], f["cause"], f["target"]) for f in report["findings"]}
        assert ("nginx", "backend-not-running", f"127.0.0.1:{gone_web}") in by_proxy, [
            f["explanation"] for f in report["findings"]]
        assert ("haproxy", "backend-not-running", f"127.0.0.1:{gone_lb}") in by_proxy
        assert all(f["proxy"] in ("nginx", "haproxy") for f in report["findings"])
        # content, not layout: a wide terminal, so a long line is not wrapped inside the pid
        text = why502("diagnose", "-v", env={**env, "COLUMNS": "400"}).stdout
        assert f"found running: nginx (pid {web.nginx.pid}" in text and "HAProxy (pid" in text
        assert "HAProxy · backend-not-running" in text and "nginx · backend-not-running" in text


def test_command_lines_name_the_config() -> None:
    """What each master's command line says (pure: argv as ``/proc/PID/cmdline`` holds it)."""
    ng = describe("nginx", 1, ["nginx: master process /usr/sbin/nginx -c /srv/n.conf -g daemon off;"])
    assert ng.config == "/srv/n.conf" and ng.binary == "/usr/sbin/nginx"
    assert describe("nginx", 1, ["nginx: master process /usr/sbin/nginx"]).config == "/etc/nginx/nginx.conf"
    ap = describe("apache", 1, ["/usr/sbin/apache2", "-d", "/srv/httpd", "-f", "conf/httpd.conf",
                                "-D", "SSL", "-k", "start"])
    assert ap.config == "/srv/httpd/conf/httpd.conf" and ap.server_root == "/srv/httpd"
    assert ap.defines == ("SSL",)
    assert describe("apache", 1, ["/usr/sbin/apache2", "-k", "start"]).config == "/etc/apache2/apache2.conf"
    hp = describe("haproxy", 1, ["/usr/sbin/haproxy", "-Ws", "-f", "/etc/haproxy/haproxy.cfg", "-p",
                                 "/run/haproxy.pid", "-S", "/run/haproxy-master.sock"])
    assert hp.config == "/etc/haproxy/haproxy.cfg" and hp.master_worker and hp.pid_file == "/run/haproxy.pid"
