"""An xDS-managed Envoy (a saved ``/config_dump`` of an Istio sidecar, of Envoy Gateway, of a
real Envoy): lint says each change in the control plane's terms (Istio ``DestinationRule`` /
``VirtualService``, Envoy Gateway ``BackendTrafficPolicy``), ``why502 fix --lint`` lists them
as notes and changes nothing, and ``--apply`` refuses (exit 3) -- the control plane would
replace any edit of Envoy's own config (``proxies.envoy.xds``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import RunMain
from why502.proxies.envoy.config import parse_envoy_text
from why502.proxies.envoy.xds import GATEWAY, ISTIO, XDS, controller

ADMIN = Path(__file__).parent.parent / "fixtures" / "envoy" / "admin"


def _dump(cluster: str, node: dict[str, object]) -> str:
    eps = [{"endpoint": {"address": {"socket_address": {"address": f"10.1.2.{i}", "port_value": 8080}}}}
           for i in (3, 4)]
    return json.dumps({"configs": [
        {"@type": "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump",
         "bootstrap": {"node": node, "admin": {"address": {"socket_address": {
             "address": "127.0.0.1", "port_value": 15000}}}}},
        {"@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
         "dynamic_active_clusters": [{"version_info": "1", "cluster": {
             "name": cluster, "type": "EDS", "connect_timeout": "10s"}}]},
        {"@type": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
         "dynamic_route_configs": [{"route_config": {"name": "80", "virtual_hosts": [
             {"name": "web", "domains": ["*"], "routes": [
                 {"match": {"prefix": "/"}, "route": {"cluster": cluster}}]}]}}]},
        {"@type": "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump",
         "dynamic_endpoint_configs": [{"endpoint_config": {"cluster_name": cluster,
                                                           "endpoints": [{"lb_endpoints": eps}]}}]},
    ]}, indent=2)


ISTIO_DUMP = _dump("outbound|8080||web.shop.svc.cluster.local",
                   {"id": "sidecar~10.1.2.9~web-7d9.shop~shop.svc.cluster.local",
                    "metadata": {"ISTIO_VERSION": "1.24.0"}})
GATEWAY_DUMP = _dump("httproute/shop/web/rule/0", {"id": "envoy-default-eg-5f6", "cluster": "envoy-gateway"})


def test_the_control_plane_is_recognised() -> None:
    assert controller(parse_envoy_text(ISTIO_DUMP, "dump.json")) == ISTIO
    assert controller(parse_envoy_text(GATEWAY_DUMP, "dump.json")) == GATEWAY
    # a real Envoy 1.40's dump of a static bootstrap (tests/fixtures/envoy/admin/README.md): a
    # running config, changed through whatever wrote it
    real = (ADMIN / "config_dump.json").read_text()
    assert controller(parse_envoy_text(real, "dump.json")) == XDS


@pytest.mark.parametrize(("dump", "wanted"), [
    (ISTIO_DUMP, ["kind: DestinationRule", "host: web.shop.svc.cluster.local", "idleTimeout: 4s",
                  "consecutive5xxErrors: 5"]),
    (GATEWAY_DUMP, ["kind: BackendTrafficPolicy", "namespace: shop", "name: web",
                    "connectionIdleTimeout: 4s", "consecutive5XxErrors: 5"]),
])
def test_lint_and_fix_say_it_in_the_control_planes_terms_and_never_apply(
        tmp_path: Path, run_main: RunMain, dump: str, wanted: list[str]) -> None:
    path = tmp_path / "config_dump.json"
    path.write_text(dump)
    code, out, err = run_main("lint", "--config", str(path), "--format", "json")
    assert code == 0, err  # warnings: lint fails on errors by default
    findings = json.loads(out)["findings"]
    assert {f["code"] for f in findings} == {"W502-033", "W502-035"}
    assert all(f["diff"] is None for f in findings)
    text = "\n".join(f["message"] for f in findings)
    for w in wanted:
        assert w in text, (w, text)
    code, out, err = run_main("fix", "--lint", str(path))
    assert code == 0 and "configured by" in out and "never applies it" in out, out + err
    for w in wanted:
        assert w in out
    code, out, err = run_main("fix", "--lint", str(path), "--apply", "--yes",
                              "--state-dir", str(tmp_path / "state"))
    assert code == 3 and "fix --apply refuses" in err, (out, err)
    assert path.read_text() == dump
