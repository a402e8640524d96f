"""Caddy's fix service (``proxies/caddy/fix.py``, reached through ``Hooks.fix_service``) on the
real ``caddy``: a JSON config is validated without ``--adapter``, a broken one is rejected with
Caddy's own message; the reload goes to a loopback admin API only, and a running Caddy whose
config turns the admin API off is not reloaded (said why).  Processes run by the lab runtime
(temp dir, random ports, stopped by PID)."""

from __future__ import annotations

import json
import shutil

import pytest

from why502.app.fix.service import service_class
from why502.lab.runtime import Stack, free_port
from why502.lab.runtime.processes import can_connect, wait_for
from why502.proxies.caddy.fix import loopback_admin

pytestmark = [pytest.mark.real]


def _caddy() -> str:
    caddy = shutil.which("caddy")
    if caddy is None:
        pytest.skip("caddy is not installed (Debian: apt-get install caddy)")
    return caddy


@pytest.mark.parametrize(("address", "kept"), [
    ("127.0.0.1:2019", True), ("localhost:2019", True), ("[::1]:2019", True), ("127.8.9.10:1", True),
    ("0.0.0.0:2019", False), ("10.0.0.5:2019", False), ("example.com:2019", False),
    ("unix//run/caddy.sock", False), (":2019", False), ("127.0.0.1:http", False)])
def test_only_a_loopback_admin_address_is_used(address: str, kept: bool) -> None:
    assert (loopback_admin(address) == address) is kept


def test_a_json_config_is_validated_as_json_and_a_broken_one_rejected() -> None:
    caddy = _caddy()
    service = service_class("caddy")
    assert service is not None and service.label == "caddy validate"
    with Stack() as stack:
        good = {"admin": {"listen": f"127.0.0.1:{free_port()}"},
                "apps": {"http": {"servers": {"s": {"listen": [f"127.0.0.1:{free_port()}"], "routes": [
                    {"handle": [{"handler": "reverse_proxy", "upstreams": [{"dial": "127.0.0.1:9"}]}]}]}}}}}
        conf = stack.write_file("caddy.json", json.dumps(good))
        assert service(caddy, str(conf)).test().ok
        good["apps"]["http"]["servers"]["s"]["routes"][0]["handle"][0]["handler"] = "no_such_handler"
        conf.write_text(json.dumps(good))
        res = service(caddy, str(conf)).test()
        assert not res.ok and "no_such_handler" in res.message


def test_a_caddy_with_the_admin_api_off_is_not_reloaded() -> None:
    caddy = _caddy()
    service = service_class("caddy")
    assert service is not None
    with Stack() as stack:
        port = free_port()
        conf = stack.write_file("Caddyfile", f"{{\n\tadmin off\n\tauto_https off\n}}\n\n"
                                             f"http://127.0.0.1:{port} {{\n\trespond ok\n}}\n")
        home = stack.p.root
        proc = stack.spawn("caddy", ["env", f"XDG_CONFIG_HOME={home}", f"XDG_DATA_HOME={home}", caddy,
                                     "run", "--config", str(conf), "--adapter", "caddyfile"])
        wait_for(lambda: can_connect(f"127.0.0.1:{port}"), proc, "caddy")
        svc = service(caddy, str(conf))
        assert svc.master() == proc.pid  # the running server of this config (caddy run --config)
        res = svc.reload()
        assert not res.ok and "admin off" in res.message, res.message
        assert proc.alive()
