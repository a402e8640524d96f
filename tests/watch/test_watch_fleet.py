"""`why502 fleet`: two `why502 watch` hosts scraped by one real Prometheus; fleet names the one
with the incident and its root cause."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from tests.support.clirun import WHY502, why502
from tests.support.monitoring import get_json, get_text, start_prometheus, wait_until
from why502.lab.runtime import Stack, free_port

pytestmark = pytest.mark.real


def host(tmp: Path, name: str) -> tuple[Path, Path, Path]:
    d = tmp / name
    d.mkdir()
    conf = d / "nginx.conf"
    conf.write_text(f"events {{}}\nerror_log {d}/error.log;\nhttp {{\n"
                    f"  access_log {d}/access.log combined;\n"
                    "  server { listen 127.0.0.1:8080; location / { proxy_pass http://127.0.0.1:9; } }\n}\n")
    (d / "access.log").write_text("")
    (d / "error.log").write_text("")
    return conf, d / "access.log", d / "error.log"


def test_fleet_names_the_host_with_the_incident(tmp_path: Path) -> None:
    with Stack() as stack:
        ports = [free_port(), free_port()]
        hosts = [host(tmp_path, "web1"), host(tmp_path, "web2")]
        procs = [subprocess.Popen([WHY502, "watch", "--nginx-conf", str(conf), "--offline",
                                   "--listen", f"127.0.0.1:{port}", "--format", "jsonl",
                                   "--min-requests", "3", "--window", "30", "--duration", "60"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for (conf, _, _), port in zip(hosts, ports)]
        try:
            for port in ports:
                wait_until(lambda port=port: "why502_log_lag_bytes{" in
                           get_text(f"http://127.0.0.1:{port}/metrics"), 60, "watch started")
            prom = start_prometheus(stack, [f"127.0.0.1:{p}" for p in ports])
            now = datetime.now()
            _, access1, error1 = hosts[0]
            _, access2, _ = hosts[1]
            with access1.open("a") as a, error1.open("a") as e:
                for n in range(6):
                    a.write(f'127.0.0.1 - - [{now.astimezone():%d/%b/%Y:%H:%M:%S %z}] "GET /o HTTP/1.1" '
                            '502 150 "-" "curl"\n')
                    e.write(f"{now:%Y/%m/%d %H:%M:%S} [error] 7#7: *{n} connect() failed (111: "
                            "Connection refused) while connecting to upstream, client: 127.0.0.1, "
                            'server: lab, request: "GET /o HTTP/1.1", upstream: '
                            '"http://127.0.0.1:9/o", host: "lab"\n')
            with access2.open("a") as a:
                a.write(f'127.0.0.1 - - [{now.astimezone():%d/%b/%Y:%H:%M:%S %z}] "GET / HTTP/1.1" '
                        '200 15 "-" "curl"\n' * 6)
            def scraped() -> bool:
                incident = get_json(f"{prom}/api/v1/query?query=why502_incidents_open%3E0")
                hosts = get_json(f"{prom}/api/v1/query?query=why502_log_lag_bytes")
                return bool(incident["data"]["result"]) and len(
                    {r["metric"]["instance"] for r in hosts["data"]["result"]}) == 2

            # both hosts scraped (Prometheus spreads the targets' first scrapes over the interval)
            wait_until(scraped, 30, "Prometheus to scrape both hosts and the incident")
            out = why502("fleet", "--prometheus", prom, "--format", "json")
            assert out.returncode == 1, out.stderr  # a host has an open incident
            ranked = json.loads(out.stdout)["hosts"]
            assert [h["instance"] for h in ranked] == [f"127.0.0.1:{p}" for p in ports]
            assert ranked[0]["open_incidents"] == ["backend-not-running"]
            assert ranked[1]["open_incidents"] == []
            text = why502("fleet", "--prometheus", prom)
            assert text.stdout.splitlines()[1].startswith(f"127.0.0.1:{ports[0]}")
            assert "backend-not-running" in text.stdout.splitlines()[1]
            # wrapped to the width like every text output (issue 31): 80 piped, --width N
            assert max(len(line) for line in text.stdout.splitlines()) <= 80, text.stdout
            narrow = why502("fleet", "--prometheus", prom, "--width", "50").stdout
            assert max(len(line) for line in narrow.splitlines()) <= 50, narrow
            assert "backend-not-running" in narrow
        finally:
            for p in procs:
                p.terminate()
                p.wait(timeout=10)
