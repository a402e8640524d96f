"""Apache's access logs read without its config, in the LogFormats people write (real httpd).

The on-call often has the log and not the config.  Real Apache on loopback writes the same
requests to one ``CustomLog`` per format -- ``common`` with ``%D`` (the lab's own), with ``%T``,
``combined`` with ``%D``, and ``vhost_combined`` (``%v:%p`` in front) -- in front of a backend
that answers 502 and one that refuses.  For each log:

- ``classify`` (which reads error logs) says it is an access log with that many 5xx and exits 1,
  never "healthy" (``app.stats.formats.access_log_hint``, ``parsers.access_line``);
- ``stats`` reads every request and status from the known start of the line
  (``app.stats.formats.guess_followed``) -- all but ``vhost_combined``, whose start is no
  predefined format: it keeps the one-line error naming what it tried;
- ``diagnose`` given the access log and the error log alone is Apache's run, every request read
  (``Hooks.error_sniff``, ``proxies.apache.log.guess_log_format``).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.clirun import why502

FORMATS = {
    "common_D": '"%h %l %u %t \\"%r\\" %>s %b %D"',
    "common_T": '"%h %l %u %t \\"%r\\" %>s %b %T"',
    "combined_D": '"%h %l %u %t \\"%r\\" %>s %b \\"%{Referer}i\\" \\"%{User-Agent}i\\" %D"',
    "vhost_combined": '"%v:%p %h %l %u %t \\"%r\\" %>s %O \\"%{Referer}i\\" \\"%{User-Agent}i\\""',
}


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Path], Counter[int]]]:
    from why502.lab.runtime import LabSkip, Stack

    with Stack() as stack:
        try:
            backend = stack.add_backend("status502")
            root = stack.p.root / "logs"
            paths = {name: root / f"{name}.log" for name in FORMATS}
            body = "".join(f"LogFormat {fmt} {name}\nCustomLog {paths[name]} {name}\n"
                           for name, fmt in FORMATS.items())
            stack.start_apache(f"{body}ProxyTimeout 2\nProxyPass /down http://127.0.0.1:9/\n"
                               f"ProxyPass / http://{backend.address}/\n")
        except LabSkip as err:
            pytest.skip(str(err))
        got = Counter(r.status for r in [*stack.requests("/orders", count=4),
                                         *stack.requests("/down", count=3)])
        want = sum(got.values())
        deadline = time.monotonic() + 10  # each child writes its own lines, in its own time
        while time.monotonic() < deadline and not all(
                path.exists() and len(path.read_text().splitlines()) >= want for path in paths.values()):
            time.sleep(0.05)
        kept = tmp_path_factory.mktemp("apache-logs")  # the stack's temp dir goes with it
        copies = {name: kept / path.name for name, path in paths.items()}
        for name, path in paths.items():
            copies[name].write_bytes(path.read_bytes())
        from why502.proxies.apache.lab import apache_paths

        (kept / "error.log").write_bytes(apache_paths(stack)[1].read_bytes())
    yield copies, Counter({int(k): v for k, v in got.items() if k is not None})


@pytest.mark.real
@pytest.mark.parametrize("name", list(FORMATS))
def test_classify_calls_each_an_access_log(logs: tuple[dict[str, Path], Counter[int]], name: str) -> None:
    paths, statuses = logs
    lines = [ln for ln in paths[name].read_text().splitlines() if ln]
    assert len(lines) == sum(statuses.values()) == 7
    five = sum(v for k, v in statuses.items() if k >= 500)
    assert five == 7, statuses  # the backend's 502s and Apache's own 503s for the refused one
    done = why502("classify", str(paths[name]), "--format", "json")
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["recognised"] == 0
    assert "is an access log (7 of its first 7 lines " in done.stderr
    assert f", {five} of them a 5xx)" in done.stderr


@pytest.mark.real
@pytest.mark.parametrize("name", ["common_D", "common_T", "combined_D"])
def test_stats_reads_each_without_its_format(logs: tuple[dict[str, Path], Counter[int]], name: str) -> None:
    paths, statuses = logs
    done = why502("stats", str(paths[name]), "--format", "json", "--no-progress")
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    assert doc["requests"] == 7 and doc["unparsed"] == 0
    assert doc["by_status"] == {str(k): v for k, v in sorted(statuses.items())}
    assert doc["log_format"].endswith(" $unnamed_fields")


@pytest.mark.real
@pytest.mark.parametrize("name", list(FORMATS))
def test_diagnose_reads_the_logs_alone_as_apaches(logs: tuple[dict[str, Path], Counter[int]],
                                                  name: str) -> None:
    """Each access log with the run's error log, no ``--proxy``, no config: the error log's head
    makes the run Apache's (``Hooks.error_sniff``) and the access log's format is guessed from
    its head (``proxies.apache.log.guess_log_format``): every request read, the findings
    Apache's."""
    paths, _statuses = logs
    done = why502("diagnose", "--offline", "--access-log", str(paths[name]),
                  "--error-log", str(paths[name].with_name("error.log")), "--format", "json")
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    assert doc["inputs"]["proxy"] == "apache" and doc["inputs"]["access_requests"] == 7
    assert doc["findings"] and {f["proxy"] for f in doc["findings"]} == {"apache"}


@pytest.mark.real
def test_stats_on_vhost_combined_says_what_it_tried(logs: tuple[dict[str, Path], Counter[int]]) -> None:
    paths, _statuses = logs
    done = why502("stats", str(paths["vhost_combined"]), "--no-progress")
    assert done.returncode == 3
    assert "matches the log format (guessed:" in done.stderr and "Traceback" not in done.stderr
