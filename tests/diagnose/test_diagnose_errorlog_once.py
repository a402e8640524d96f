"""``why502 diagnose`` reads each error-log file once.

Two ways it used to read more:

- ``app.diagnose`` classified the error log, then ``app.stats.compute_for_diagnose`` read and
  classified it again (``read_error_lines``) for the join of 5xx access lines to error lines;
  now diagnose hands over the rows it classified (``errors=``).  The join must come out the
  same: checked against the old path (``compute_for_diagnose`` reading the files itself) on the
  recorded lab fixtures and on the generated logs of ``genlog``.
- a file named with ``--error-log`` and also found as a rotated sibling of another named file
  (``--error-log error.log --error-log error.log.1``) was read twice: 14 lines counted as 17.
"""

from __future__ import annotations

import builtins
import gzip
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.diagnose.test_diagnose_fixtures import METAS, materialize, options_for
from tests.support import genlog
from tests.support.clirun import why502
from tests.support.paths import FIXTURES_DIR
from why502.app.classify import classify_files
from why502.app.diagnose import DiagnoseOptions
from why502.app.diagnose.gather import gather
from why502.app.diagnose.logs import error_join_rows
from why502.app.stats import compute_for_diagnose
from why502.app.stats import errorlog as app_stats
from why502.app.stats.errorlog import JoinRows, read_error_lines
from why502.sources.logfiles import expand_inputs, file_identity

RECORDED = FIXTURES_DIR / "recorded"
WITH_ACCESS = [m for m in METAS if "access_log" in m["files"] and m.get("proxy", "nginx") == "nginx"]
CRASH_LOOP = RECORDED / "backend-crash-loop"


def _joined(st: Any) -> dict[str, Any]:
    """What the join decides: who made each 5xx and the error-log match counts."""
    d = st.to_dict()
    return {"made_by": d["made_by"], "errorlog": d["errorlog"],
            "requests_5xx": d["requests_5xx"],
            "upstreams": [(u["address"], u["made_by"]) for u in d["upstreams"]]}


class OpenCounter:
    """Counts ``open()`` calls per file (by identity, so any spelling of the name counts).

    Every Python reader of a log goes through the builtin ``open``: ``sources.logfiles`` (the
    classify engine's reader), ``sources.byte_chunks`` (stats' chunk reader, which
    ``read_error_lines`` used) and ``sources.scan``.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.counts: Counter[Any] = Counter()
        real = builtins.open

        def counting(file: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(file, (str, os.PathLike)):
                self.counts[file_identity(os.fspath(file))] += 1
            return real(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", counting)

    def of(self, path: Path | str) -> int:
        return self.counts[file_identity(path)]


# ---------------------------------------------------------------------------------------------
# read once


def test_the_error_log_is_opened_once_per_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    meta = materialize(next(m for m in WITH_ACCESS if m["scenario"] == "backend-crash-loop"),
                       tmp_path)
    opts = options_for(meta)
    error_log = opts.error_logs[0]
    second_reads: list[list[str]] = []
    real_read = app_stats.read_error_lines

    def spy(paths: list[str]) -> pl.DataFrame:
        second_reads.append(list(paths))
        frame: pl.DataFrame = real_read(paths)
        return frame

    monkeypatch.setattr(app_stats, "read_error_lines", spy)
    opened = OpenCounter(monkeypatch)
    g = gather(opts)
    assert second_reads == []
    assert opened.of(error_log) == 1
    # the access log was read and joined to the error lines all the same
    assert g.access_stats is not None and g.access_stats.errorlog is not None
    assert g.access_stats.errorlog["matched_5xx"] == 14
    assert g.inputs["error_logs"] == [error_log]


def test_the_old_path_opened_it_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The counter sees stats' own read: without ``errors=`` it opens the file again."""
    error_log = tmp_path / "error.log"
    error_log.write_bytes((CRASH_LOOP / "error.log").read_bytes())
    access_log = tmp_path / "access.log"
    access_log.write_bytes((CRASH_LOOP / "access.log").read_bytes())
    opened = OpenCounter(monkeypatch)
    from why502.proxies.nginx.source import load_config

    cfg = load_config(str(CRASH_LOOP / "nginx.conf"))
    compute_for_diagnose([str(access_log)], config=cfg, error_logs=[str(error_log)])
    assert opened.of(error_log) == 1
    compute_for_diagnose([str(access_log)], config=cfg, error_logs=[str(error_log)],
                         errors=read_error_lines([str(error_log)]).head(0))
    assert opened.of(error_log) == 2  # the read_error_lines above; the call itself: none


@pytest.mark.parametrize("meta", WITH_ACCESS, ids=lambda m: m["scenario"])
def test_join_unchanged_on_the_recorded_fixtures(meta: dict[str, Any], tmp_path: Path) -> None:
    m = materialize(meta, tmp_path)
    opts = options_for(m)
    g = gather(opts)
    assert g.access_stats is not None
    old = compute_for_diagnose(g.inputs["access_logs"], config=_config(opts),
                               error_logs=g.inputs["error_logs"] or None)
    assert _joined(g.access_stats) == _joined(old)
    assert g.access_stats.to_dict() == old.to_dict()


def _config(opts: DiagnoseOptions) -> Any:
    from why502.proxies.nginx.source import load_config

    return load_config(opts.default_proxy_config)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated logs (``genlog``: two rotated access logs, one error log), 20k requests."""
    out = tmp_path_factory.mktemp("gen")
    genlog.generate(20_000, out, rotate=2)
    return out


@pytest.mark.parametrize("since", [None, "2026-11-20T00:03:00"])
def test_join_unchanged_on_generated_logs(generated: Path, since: str | None) -> None:
    opts = DiagnoseOptions(default_proxy_config=str(generated / "nginx.conf"),
                           error_logs=[str(generated / "error.log")],
                           access_logs=[str(generated / "access.log.1"),
                                        str(generated / "access.log")],
                           offline=True, since=since)
    g = gather(opts)
    assert g.access_stats is not None
    from why502.timeargs import parse_time_arg

    cutoff = parse_time_arg(since, "--since") if since else None
    old = compute_for_diagnose(g.inputs["access_logs"], config=_config(opts),
                               error_logs=g.inputs["error_logs"], since=cutoff)
    new = _joined(g.access_stats)
    assert new == _joined(old)
    assert new["errorlog"]["matched_5xx"] > 100 and new["made_by"]["nginx"] > 100
    # and against the generator's truth: every nginx-made 5xx has its error line
    truth = json.loads((generated / "truth.json").read_text())
    assert new["errorlog"]["lines"] == truth["error_lines"]  # --since does not cut the join's input
    if since is None:
        assert new["made_by"] == truth["made_by"]
        assert new["errorlog"]["matched_5xx"] == truth["made_by"]["nginx"]
        assert new["errorlog"]["by_symptom"] == truth["by_symptom_requests"]


# ---------------------------------------------------------------------------------------------
# the frame handed over is the one read_error_lines builds


HOSTILE = [
    # CRLF, an escaped quote in the request, a request with no quotes (FIELDS finds no request),
    # non-UTF-8 bytes, a warn line without a request, a non-nginx line naming client and request
    b'2026/11/21 21:55:33 [error] 7#7: *1 connect() failed (111: Connection refused) while '
    b'connecting to upstream, client: 127.0.0.1, server: _, request: "GET /a HTTP/1.1", '
    b'upstream: "http://127.0.0.1:9/a", host: "x"\r\n',
    b'2026/11/21 21:55:34 [error] 7#7: *2 upstream prematurely closed connection while reading '
    b'response header from upstream, client: 127.0.0.1, server: _, request: "GET /\\"q\\" '
    b'HTTP/1.1", upstream: "http://127.0.0.1:9/", host: "x"\n',
    b'2026/11/21 21:55:35 [error] 7#7: *3 upstream timed out (110: Connection timed out) while '
    b'reading response header from upstream, client: 127.0.0.1, server: _, request: GET /b, '
    b'upstream: "http://127.0.0.1:9/b"\n',
    b'2026/11/21 21:55:36 [error] 7#7: *4 connect() failed (111: Connection refused) while '
    b'connecting to upstream, client: 127.0.0.1, server: _, request: "GET /\xff\xfe HTTP/1.1", '
    b'upstream: "http://127.0.0.1:9/", host: "x"\n',
    b'2026/11/21 21:55:37 [warn] 7#7: *5 an upstream response is buffered to a temporary file '
    b'/tmp/1 while reading upstream, client: 127.0.0.1, server: _\n',
    b'[21-Nov-2026 21:55:38] WARNING: [pool www] child 12 said into stderr: "client: 1.2.3.4, '
    b'request: "GET / HTTP/1.1""\n',
    b"not a log line at all, client: x, request: y\n",
    # nginx lines inside syslog and docker json-file wrappers (parsers.wrappers)
    b'Nov 21 21:55:39 web nginx: 2026/11/21 21:55:39 [error] 7#7: *6 connect() failed (111: '
    b'Connection refused) while connecting to upstream, client: 127.0.0.1, server: _, request: '
    b'"GET /c HTTP/1.1", upstream: "http://127.0.0.1:9/c", host: "x"\n',
    b'{"log":"2026/11/21 21:55:40 [error] 7#7: *7 connect() failed (111: Connection refused) '
    b'while connecting to upstream, client: 127.0.0.1, server: _, request: \\"GET /d HTTP/1.1\\", '
    b'upstream: \\"http://127.0.0.1:9/d\\", host: \\"x\\"\\n","stream":"stderr",'
    b'"time":"2026-11-21T21:55:40.1Z"}\n',
]


def _frame_from_diagnose_rows(files: list[str]) -> pl.DataFrame:
    """The rows diagnose collects while it classifies (``JoinRows``, as ``gather`` does), in
    the order it reads the files (oldest first)."""
    join = JoinRows()
    for f in files:
        for df in classify_files([f], with_text=True):
            join.add(error_join_rows(df))
    got = join.result()
    assert isinstance(got, pl.DataFrame)
    return got


def test_join_frame_equals_read_error_lines(tmp_path: Path, generated: Path) -> None:
    hostile = tmp_path / "error.log"
    hostile.write_bytes(b"".join(HOSTILE))
    rotated = tmp_path / "error.log.1.gz"  # older, compressed: read first
    rotated.write_bytes(gzip.compress((CRASH_LOOP / "error.log").read_bytes()))
    cases = [[str(rotated), str(hostile)], [str(generated / "error.log")],
             *([str(RECORDED / m["scenario"] / "error.log")] for m in WITH_ACCESS)]
    for files in cases:
        want = read_error_lines(files)
        got = _frame_from_diagnose_rows(files)
        assert_frame_equal(got, want)
    assert _frame_from_diagnose_rows([str(rotated), str(hostile)]).height == 14 + 6


def test_join_frame_when_nothing_matches(tmp_path: Path) -> None:
    empty = tmp_path / "error.log"
    empty.write_text("2026/11/21 21:55:37 [notice] 7#7: signal process started\n")
    assert_frame_equal(_frame_from_diagnose_rows([str(empty)]), read_error_lines([str(empty)]))


# ---------------------------------------------------------------------------------------------
# a file reached twice is read once


def _rotated_crash_loop(d: Path) -> tuple[list[str], list[str]]:
    """The recorded crash loop's 14 refusals as a real logrotate set (oldest first)."""
    lines = (CRASH_LOOP / "error.log").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 14
    names = ["error.log.2.gz", "error.log.1", "error.log"]
    parts = [lines[:5], lines[5:8], lines[8:]]
    for name, part in zip(names, parts):
        data = "".join(f"{ln}\n" for ln in part).encode()
        (d / name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return [str(d / n) for n in names], lines


@pytest.mark.parametrize("named", [
    ["error.log", "error.log.1"],          # the report: 14 lines counted as 17
    ["error.log.1", "error.log"],
    ["error.log", "error.log.2.gz", "error.log.1", "error.log"],
    ["error.log", "link.log"],             # a symlink to the live file
    ["error.log", "./sub/../error.log.1"],
])
def test_diagnose_counts_each_line_once(tmp_path: Path, named: list[str]) -> None:
    paths, lines = _rotated_crash_loop(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.log").symlink_to(tmp_path / "error.log")
    args = [a for n in named for a in ("--error-log", str(tmp_path / n))]
    proc = why502("diagnose", "--offline", "--nginx-conf", str(CRASH_LOOP / "nginx.conf"),
                  *args, "--format", "json")
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert report["inputs"]["log_lines_recognised"] == len(lines) == 14
    read = report["inputs"]["error_logs"]
    assert len(read) == len({file_identity(p) for p in read}) == 3
    assert {file_identity(p) for p in read} == {file_identity(p) for p in paths}
    refused = [e for f in report["findings"] for e in f["evidence"]
               if e["kind"] == "log" and e.get("symptom") == "connection-refused"]
    assert [e["count"] for e in refused] == [14]


def test_a_file_named_for_two_kinds_is_read_once(tmp_path: Path) -> None:
    paths, lines = _rotated_crash_loop(tmp_path)
    g = gather(DiagnoseOptions(default_proxy_config=str(CRASH_LOOP / "nginx.conf"),
                               error_logs=[paths[-1]], app_logs=[paths[1]], offline=True))
    assert g.inputs["log_lines_recognised"] == len(lines)
    assert g.inputs["app_logs"] == []


def test_expand_inputs_keeps_one_name_per_file(tmp_path: Path) -> None:
    paths, _ = _rotated_crash_loop(tmp_path)
    (tmp_path / "hard.log").hardlink_to(tmp_path / "error.log.1")
    got = expand_inputs([paths[-1], str(tmp_path / "hard.log"), str(tmp_path / "error.log*"),
                         str(tmp_path / "." / "error.log.1")], rotated=True)
    assert [str(p) for p in got] == paths
    # stdin stays stdin, and a name that does not exist (yet) is compared by its real path
    assert file_identity("-") == "-"
    assert file_identity(tmp_path / "nope" / ".." / "x") == os.path.realpath(tmp_path / "x")
