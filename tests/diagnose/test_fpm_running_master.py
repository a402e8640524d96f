"""A PHP-FPM whose config is outside the usual places is read from its running master (stop 47).

The matrix's wrong-target fault on PHP-FPM over TCP: nginx says ``fastcgi_pass 127.0.0.1:PORT``
(a tutorial's port) while the pool listens on a unix socket (Debian's default).  nginx logs a
refused connect; what says "wrong target", not "not running", is the pool's ``listen`` (the
catalog's evidence: "the PHP-FPM pool's listen differs").  The pool was started with ``-y`` on a
config in its own directory, as a container's or a second PHP's is: ``diagnose`` is given no
``--fpm-conf`` and must find the config from the master's title ("php-fpm: master process
(CONFIG)", php-src sapi/fpm/fpm/fpm_env.c ``fpm_env_init_main()``).  Real processes on loopback
and in a temp dir, stopped by PID (``Stack``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from why502.lab.runtime import LabSkip, Stack, find_nginx
from why502.lab.scenarios.common import dead_port, php_location, server
from why502.sources.proxyprocs import PIDS_ENV

pytestmark = [pytest.mark.real,
              pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed")]


def test_a_fastcgi_port_where_the_running_pool_listens_on_a_socket_is_the_wrong_target() -> None:
    with Stack() as stack:
        try:
            pool = stack.add_php_fpm({"listen": str(stack.p.run / "php-fpm.sock")},
                                     scripts={"app.php": "<?php echo 'ok';\n"})
        except LabSkip as err:
            pytest.skip(str(err))
        named = f"127.0.0.1:{dead_port()}"
        stack.start_nginx(server(stack, php_location(stack, named)))
        statuses = [r.status for r in stack.requests("/app.php", count=3)]
        assert statuses == [502, 502, 502]
        kernel = stack.write_file("logs/kernel.log", "")
        env = {**os.environ, PIDS_ENV: ",".join(str(p.pid) for p in stack.processes)}
        res = subprocess.run(
            [sys.executable, "-m", "why502", "diagnose", "--format", "json",
             "--config", str(stack.p.nginx_conf), "--error-log", str(stack.p.error_log),
             "--kernel-log", str(kernel)],
            capture_output=True, text=True, timeout=120, env=env, check=False)
    doc = json.loads(res.stdout)
    top = doc["findings"][0]
    assert top["cause"] == "wrong-target", [f["cause"] for f in doc["findings"]]
    assert top["target"] == named
    assert pool.listen in top["explanation"]
