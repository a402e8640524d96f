"""watch on a container runtime's log files: docker's json-file
(``/var/lib/docker/containers/ID/ID-json.log``) as CRI's (``/var/log/containers/*.log``), each
line unframed by ``sources.unframe.unframe_block``, a line split over two polls joined.

Why: watch unframed CRI only (its own ``cri_stdout``), so following an nginx container's
json-file log counted no request, and a CRI line split (``P``) over two polls lost its head.
The stream kept depends on the log's kind (``Watch._unframed``): nginx's access log, stdout
(the official image's access.log -> /dev/stdout, error.log -> /dev/stderr); an edge's access
log and a log of any kind, both; an error log, every line, unwrapped by its reader.

The docker lines are as moby's json-file driver writes them (``daemon/logger/jsonfilelog``,
``jsonlog.JSONLogs``): ``{"log":"...","stream":"stdout","time":"<RFC 3339 nano>"}``, no space
after a colon, ``<``, ``>`` and ``&`` escaped as Go's encoder escapes them, and a line over
16 KiB split into objects of 16 KiB whose ``log`` has no newline (the copier's buffer).
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from pathlib import Path

import pytest

from tests.watch.test_watch_engine import access_line, error_line, metric
from why502.app.watch.engine import Watch, WatchOptions
from why502.app.watch.incidents import Rules

T = "2026-11-28T06:28:22.123456789Z"
#: the docker copier's buffer: a longer line is logged in objects of this many bytes
SPLIT = 16 * 1024
CADDY = ('{"level":"error","ts":%d.0,"logger":"http.log.access.log0","msg":"handled request",'
         '"request":{"remote_ip":"10.0.0.9","remote_port":"33492","client_ip":"10.0.0.9","proto":'
         '"HTTP/1.1","method":"GET","host":"shop.example","uri":"/x?id=%d","headers":{"User-Agent":'
         '["curl/8.5.0"]}},"bytes_read":0,"user_id":"","duration":0.02,"size":0,"status":%d,'
         '"resp_headers":{"Content-Type":["text/plain"]}}\n')


def docker(text: str, stream: str = "stdout") -> str:
    """``text`` (lines, each ending in a newline) as docker's json-file objects, a line."""
    out = []
    for line in text.splitlines(keepends=True):
        parts = [line[i:i + SPLIT] for i in range(0, len(line), SPLIT)]
        for part in parts:
            obj = json.dumps({"log": part, "stream": stream, "time": T}, ensure_ascii=False,
                             separators=(",", ":"))
            out.append(obj.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") + "\n")
    return "".join(out)


def cri(text: str, stream: str = "stdout", cut: int = 0) -> str:
    """``text`` as CRI lines; ``cut``: each line in parts (``P``) of that many characters."""
    out = []
    for line in text.splitlines():
        parts = [line[i:i + cut] for i in range(0, len(line), cut)] if cut else [line]
        tags = ["P"] * (len(parts) - 1) + ["F"]
        out += [f"{T} {stream} {tag} {part}\n" for tag, part in zip(tags, parts, strict=True)]
    return "".join(out)


def _watch(tmp_path: Path, **logs: list[str]) -> Watch:
    (tmp_path / "none.log").write_text("")
    rules = Rules(window=60, ratio=0.9, min_requests=10**6)  # counted, no incident
    options = WatchOptions(offline=True, from_start=True, rules=rules,
                           **{"error_logs": [str(tmp_path / "none.log")], **logs})  # type: ignore[arg-type]
    return Watch(options, lambda _e: None, lambda _d: None)


def _requests(w: Watch, status: int) -> float:
    return metric(w, f'why502_requests_total{{server="",status="{status}"}}')


def _refused(w: Watch) -> float:
    return metric(w, 'why502_upstream_failures_total{symptom="connection-refused",upstream="http://127.0.0.1:9"}')


def _nginx(n: int) -> tuple[str, str]:
    """An nginx container's output: its access lines (stdout: every other one a 502) and its
    error lines (stderr), ``n`` each, interleaved as the runtime writes them."""
    return ("".join(docker(access_line(i, 502 if i % 2 else 200)) + docker(error_line(i), "stderr")
                    for i in range(n)),
            "".join(cri(access_line(i, 502 if i % 2 else 200)) + cri(error_line(i), "stderr")
                    for i in range(n)))


@pytest.mark.parametrize("framing", ["docker", "cri"])
def test_an_nginx_containers_file_as_access_log_counts_its_stdout(framing: str, tmp_path: Path) -> None:
    log = tmp_path / "ctr-json.log"
    log.write_text(_nginx(10)[framing == "cri"])
    w = _watch(tmp_path, access_logs=[str(log)])
    w.step()
    assert (_requests(w, 502), _requests(w, 200)) == (5, 5)
    # its stderr (the error log) is no request: not counted as an unparsed line either
    assert metric(w, f'why502_log_lines_unparsed_total{{path="{log}"}}') == 0


@pytest.mark.parametrize("framing", ["docker", "cri"])
def test_its_error_lines_on_stderr_are_read_as_the_error_log(framing: str, tmp_path: Path) -> None:
    """The same file named as the error log (as the DaemonSet does with a glob of the pods'
    files), and a log of no kind named alone: the error lines are not dropped."""
    log = tmp_path / "ctr-json.log"
    log.write_text(_nginx(6)[framing == "cri"])
    named = _watch(tmp_path, access_logs=[str(log)], error_logs=[str(log)])
    named.step()
    assert _refused(named) == 6 and _requests(named, 502) == 3
    alone = _watch(tmp_path, logs=[str(log)])
    alone.step()
    assert _refused(alone) == 6 and (_requests(alone, 502), _requests(alone, 200)) == (3, 3)


def test_a_line_over_16_kib_split_by_docker_is_one_request(tmp_path: Path) -> None:
    long_line = access_line(1, 502).replace("/x?id=1", "/x?id=1&q=" + "a" * 40_000)
    framed = docker(long_line)
    assert framed.count("\n") == 3 and framed.count('\\n"') == 1  # three objects, one line
    log = tmp_path / "ctr-json.log"
    log.write_text(docker(access_line(0, 200)))
    w = _watch(tmp_path, access_logs=[str(log)])
    w.step()
    objects = framed.splitlines(keepends=True)
    with log.open("a") as fh:  # its first part in one poll, the rest in the next
        fh.write(objects[0])
    w.step()
    with log.open("a") as fh:
        fh.write("".join(objects[1:]) + docker(access_line(2, 502)))
    w.step()
    assert (_requests(w, 502), _requests(w, 200)) == (2, 1)
    assert metric(w, f'why502_log_lines_unparsed_total{{path="{log}"}}') == 0


@pytest.mark.parametrize("framing", ["docker", "cri"])
def test_a_read_boundary_inside_an_object_or_a_partial_line(framing: str, tmp_path: Path) -> None:
    """The file grows mid-object (docker) or between a ``P`` and its ``F`` (CRI): the line
    is whole once its end is written, never counted half."""
    log = tmp_path / "ctr.log"
    log.write_text("")
    w = _watch(tmp_path, access_logs=[str(log)])
    framed = (docker(access_line(1, 502)) + docker(access_line(2, 200)) if framing == "docker"
              else cri(access_line(1, 502) + access_line(2, 200), cut=25))
    cuts = [0, len(framed) // 3, len(framed) // 2, len(framed) - 5, len(framed)]
    for a, b in itertools.pairwise(cuts):
        with log.open("a") as fh:
            fh.write(framed[a:b])
        w.step()
    assert (_requests(w, 502), _requests(w, 200)) == (1, 1)
    assert metric(w, f'why502_log_lines_unparsed_total{{path="{log}"}}') == 0


def test_an_edge_proxys_access_log_on_stderr_is_counted(tmp_path: Path) -> None:
    """Caddy writes its access log to stderr: an edge's log keeps both streams."""
    now = int(datetime.now().timestamp())
    log = tmp_path / "caddy-json.log"
    log.write_text("".join(docker(CADDY % (now, i, 502 if i % 3 == 0 else 200), "stderr") for i in range(9)))
    for logs in ({"access_logs": [str(log)]}, {"logs": [str(log)]}):
        w = _watch(tmp_path, **logs)
        w.step()
        assert (_requests(w, 502), _requests(w, 200)) == (3, 6), logs
