"""watch on a node's container logs (the Kubernetes DaemonSet of contrib/kubernetes/): a glob of
CRI-framed files, scanned again while it runs, each new file read from its start; the access lines
are the proxy's stdout, the error lines its stderr."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from tests.support.clirun import WHY502
from why502.app.watch.engine import RESCAN_SECONDS
from why502.sources.unframe import CRI, unframe_block

# kubelet's CRI log line: "<RFC3339Nano> <stream> <P|F> <text>" (k8s.io/cri-client pkg/logs)
T = "2026-11-23T21:00:00.123456789Z"
ACCESS = ('10.0.0.1 - - [23/Nov/2026:21:00:00 +0000] "GET /api HTTP/1.1" {status} 150 "-" '
          '"curl/8.5.0"')
ERROR = ('2026/11/23 21:00:00 [error] 31#31: *{n} connect() failed (111: Connection refused) while '
         'connecting to upstream, client: 10.0.0.1, server: _, request: "GET /api HTTP/1.1", '
         'upstream: "http://10.244.1.7:8080/api", host: "shop.example"')


def _read_until(proc: subprocess.Popen[str], word: str, seconds: float) -> str:
    """stderr of ``proc`` until a line holding ``word`` (or the deadline, or its end)."""
    import select

    assert proc.stderr is not None
    text = ""
    deadline = time.monotonic() + seconds
    while word not in text and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 1.0)
        if ready:
            line = proc.stderr.readline()
            if not line:
                break
            text += line
    return text


def test_nginx_access_lines_are_its_stdout_unframed_and_partial_lines_joined() -> None:
    """What watch keeps of a CRI file followed as nginx's access log (``Watch._unframed``): its
    stdout (access.log -> /dev/stdout), parts joined; a line in no framing as it is."""
    block = (f"{T} stdout F first\n{T} stderr F an error line\n{T} stdout P par\n"
             f"{T} stdout F tial\nnot framed\n").encode()
    assert unframe_block(block, CRI, stream=b"stdout") == (b"first\npartial\nnot framed\n", 3)
    assert unframe_block(f"{T} stderr F only errors\n".encode(), CRI, stream=b"stdout") == (b"", 0)


def test_a_pod_log_that_appears_later_is_followed_and_opens_an_incident(tmp_path: Path) -> None:
    containers = tmp_path / "containers"
    containers.mkdir()
    pattern = str(containers / "ingress-nginx-controller-*_ingress-nginx_controller-*.log")
    (containers / "other-app_default_app-1.log").write_text(f"{T} stdout F {ACCESS.format(status=502)}\n")
    proc = subprocess.Popen(
        [WHY502, "watch", "--error-log", pattern, "--access-log", pattern, "--offline",
         "--listen", "off", "--format", "jsonl", "--max-events", "1", "--duration", "40",
         "--window", "30", "--min-requests", "10"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        # watch is up, with no file matching yet: it says so (waited for, not slept: a loaded
        # machine starts it slowly)
        assert proc.stderr is not None
        said = _read_until(proc, "waiting", 60)
        assert "no file matches" in said, said
        pod = containers / "ingress-nginx-controller-7d9c_ingress-nginx_controller-0a1b2c.log"
        # lines of now: the incident's diagnosis reads its window's lines only
        from datetime import datetime, timezone

        now = datetime.now(timezone.utc)
        cri = now.strftime("%Y-%m-%dT%H:%M:%S.123456789Z")
        local = now.astimezone()
        access = ACCESS.replace("23/Nov/2026:21:00:00 +0000", local.strftime("%d/%b/%Y:%H:%M:%S %z"))
        error = ERROR.replace("2026/11/23 21:00:00", local.strftime("%Y/%m/%d %H:%M:%S"))
        lines = []
        for n in range(30):
            lines.append(f"{cri} stdout F {access.format(status=502 if n % 2 else 200)}")
            lines.append(f"{cri} stderr F {error.format(n=n)}")
        pod.write_text("\n".join(lines) + "\n")
        out, err = proc.communicate(timeout=50 + RESCAN_SECONDS)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, said + err
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert events and events[0]["event"] == "incident-opened", out
    opened = events[0]
    text = json.dumps(opened)
    assert "10.244.1.7:8080" in text  # the upstream of the pod's error lines
    assert "other-app" not in text   # a file the glob does not name is not read
