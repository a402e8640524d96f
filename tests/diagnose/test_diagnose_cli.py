"""`why502 diagnose` as a user runs it (subprocess): exit codes, JSON contract + schema, output.

Covers the first-run situations of the issue: nginx installed with nothing configured, nginx not
installed (PATH without nginx and missing paths given by flags), root and an unprivileged user
(runuser -u nobody); each must give an answer or one clear line, never a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.support.paths import ROOT_DIR
from why502.analyzers.rank import order
from why502.findings.model import Report
from why502.reporters.json.report import load_schema

ROOT = ROOT_DIR
FIXTURES = ROOT / "tests" / "fixtures" / "recorded"


# A hang guard, not a measure: on a loaded 2-core machine one diagnose of this host (nginx -T,
# /proc, the journal, a probe per target) took longer than the 60 s and 120 s these runs had
# (issue 27, class 8); a run that hangs still fails, in bounded time.
HANG = 600.0


def why502(*args: str, env: dict[str, str] | None = None, user: str | None = None,
           stdin: str | None = None, timeout: float = HANG) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "why502", "diagnose", *args]
    full_env = {**os.environ, **(env or {})}
    if user is not None:
        site = next(p for p in sys.path if p.endswith("site-packages"))
        cmd = ["runuser", "-u", user, "--", "env", f"PYTHONPATH={ROOT / 'src'}:{site}",
               f"PATH={full_env.get('PATH', '/usr/bin:/bin')}", "HOME=/tmp", "/usr/bin/python3",
               "-m", "why502", "diagnose", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout,
                          input=stdin, cwd="/tmp")


def no_traceback(res: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout, res.stderr
    assert "internal error" not in res.stderr, res.stderr


def fixture_args(name: str) -> list[str]:
    d = FIXTURES / name
    meta = json.loads((d / "meta.json").read_text())
    files = meta["files"]
    if "config" in files:  # another proxy (HAProxy, Apache, Envoy, Caddy): its config and logs
        args = ["--offline", "--config", str(d / files["config"])]
        for key, flag in (("error_log", "--error-log"), ("access_log", "--access-log")):
            if key in files:
                args += [flag, str(d / files[key])]
        return args
    args = ["--offline", "--nginx-conf", str(d / files["nginx_conf"]),
            "--error-log", str(d / files["error_log"]), "--access-log", str(d / files["access_log"])]
    if "fpm_log" in files:
        args += ["--fpm-log", str(d / files["fpm_log"])]
    return args


# every recording, Envoy's and Caddy's too (the schema's proxy enums are the registry's names:
# tests/project/test_schema_proxies.py); tests/lab/test_edge_recordings.py checks their causes
RECORDED = sorted(p.name for p in FIXTURES.iterdir()
                  if (p / "meta.json").exists()) if FIXTURES.is_dir() else []


@pytest.fixture()
def healthy_conf(tmp_path: Path) -> Path:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "error.log").write_text("")
    (tmp_path / "logs" / "access.log").write_text(
        '127.0.0.1 - - [01/May/2026:08:00:00 +0000] "GET / HTTP/1.1" 200 12 "-" "curl/8"\n')
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""
events {{}}
http {{
    error_log {tmp_path}/logs/error.log;
    access_log {tmp_path}/logs/access.log;
    server {{
        listen 127.0.0.1:8099;
        location / {{ proxy_pass http://127.0.0.1:8098; }}
    }}
}}
""")
    return conf


# -- the JSON contract ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", RECORDED)
def test_json_output_validates_against_the_shipped_schema(name: str) -> None:
    res = why502(*fixture_args(name), "--format", "json")
    no_traceback(res)
    assert res.returncode in (0, 1), res.stderr
    doc = json.loads(res.stdout)
    jsonschema.validate(doc, load_schema())
    # exit 0: healthy, or every finding recovered (issue 31)
    assert Report.from_dict(doc).failing_now == (res.returncode == 1)
    assert next(iter(doc)) == "schema_version"
    # most likely first: current before recovered, then confidence weighted by impact (two sure
    # causes: the one behind more failed requests first), analyzers.rank.order
    findings = Report.from_dict(doc).findings
    top = max((f.count for f in findings), default=0)
    keys = [order(f, top) for f in findings]
    assert keys == sorted(keys)
    assert Report.from_dict(doc).to_dict() == doc


def test_schema_rejects_a_broken_report() -> None:
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    bad: dict[str, Any] = {"schema_version": "1.0", "healthy": False, "findings": [{"cause": "X"}],
                           "diagnostics": [], "inputs": {}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_finding_json_has_the_design_fields() -> None:
    res = why502(*fixture_args("wrong-target-fpm-socket"), "--format", "json")
    doc = json.loads(res.stdout)
    f = doc["findings"][0]
    for key in ("cause", "title", "confidence", "status_codes", "symptoms", "upstream", "evidence",
                "fix"):
        assert key in f
    assert f["status_codes"] == [502] and f["symptoms"] == ["socket-not-found"]
    assert res.returncode == 1


# -- healthy ---------------------------------------------------------------------------------


def test_healthy_system_says_so_and_exits_0(healthy_conf: Path) -> None:
    res = why502("--offline", "--nginx-conf", str(healthy_conf))
    no_traceback(res)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.splitlines()[0].startswith("✔ healthy")
    js = why502("--offline", "--nginx-conf", str(healthy_conf), "--format", "json")
    doc = json.loads(js.stdout)
    assert doc["healthy"] is True and doc["findings"] == []
    assert doc["inputs"]["error_logs"] and doc["inputs"]["targets"] == ["127.0.0.1:8098"]


def test_answer_first_line_names_the_cause() -> None:
    res = why502(*fixture_args("socket-permissions"))
    assert res.returncode == 1
    # the headline, wrapped at 80 columns when piped: every line before "read:"
    lines = res.stdout.splitlines()
    head = " ".join(lines[:next(i for i, line in enumerate(lines) if "read:" in line)])
    assert lines[0].startswith("✘") and "socket-permissions" in head


def test_output_file_and_other_formats(tmp_path: Path) -> None:
    out = tmp_path / "r.md"
    res = why502(*fixture_args("buffer-too-small"), "--format", "markdown", "-o", str(out))
    no_traceback(res)
    assert res.returncode == 1 and res.stdout == ""
    assert "buffer-too-small" in out.read_text()
    html = why502(*fixture_args("buffer-too-small"), "--format", "html")
    assert html.returncode == 1 and "<html" in html.stdout.lower()
    txt = tmp_path / "r.txt"
    why502(*fixture_args("buffer-too-small"), "-o", str(txt))
    assert "\x1b" not in txt.read_text() and "buffer" in txt.read_text()


def test_since_limits_the_logs_read(tmp_path: Path) -> None:
    args = fixture_args("backend-down-tcp")
    old = why502(*args, "--since", "2000-01-01T00:00", "--format", "json")
    assert json.loads(old.stdout)["findings"]
    future = why502(*args, "--since", "2099-01-01T00:00", "--format", "json")
    doc = json.loads(future.stdout)
    # no line of the window, offline: the config alone was judged -- no finding (exit 0), but
    # not "healthy" (it said so: an all-clear on no log line at all)
    assert future.returncode == 0 and not doc["findings"], doc["findings"]
    assert doc["judged"] == ["config"] and doc["healthy"] is False and doc["no_evidence"] is False


def test_terminal_escapes_from_logs_are_stripped(tmp_path: Path) -> None:
    d = FIXTURES / "backend-down-tcp"
    log = (d / "error.log").read_text().splitlines()[0]
    evil = log.replace('request: "GET ', 'request: "GET /\x1b]0;pwned\x07\x1b[31m')
    (tmp_path / "error.log").write_text(evil + "\n")
    res = why502("--offline", "--nginx-conf", str(d / "nginx.conf"), "--error-log",
                 str(tmp_path / "error.log"), "-v", env={"TERM": "xterm", "FORCE_COLOR": "1"})
    assert res.returncode == 1
    assert "\x1b]0;" not in res.stdout and "\x07" not in res.stdout  # no retitling
    # shown, inert: the control characters as visible escapes, never a clean-looking path
    assert "GET /\x1b[31m" not in res.stdout
    assert 'request: "GET /\\x1b]0;pwned\\x07\\x1b[31m/orders' in res.stdout


# -- first-run situations ----------------------------------------------------------------------


def test_usage_errors_exit_2() -> None:
    res = why502("--since", "yesterday-ish", "--offline", "--nginx-conf", "/dev/null")
    assert res.returncode == 2 and res.stderr.startswith("why502: --since")
    res = why502("--demo", "--error-log", "/x")
    assert res.returncode == 2
    no_traceback(res)


def test_nginx_not_installed_and_missing_paths_give_one_line(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path)}  # no nginx on PATH
    res = why502("--nginx-conf", str(tmp_path / "etc/nginx/nginx.conf"), env=env)
    no_traceback(res)
    assert res.returncode == 3
    assert len(res.stderr.strip().splitlines()) == 1 and "nginx.conf" in res.stderr
    res = why502("--offline", "--error-log", str(tmp_path / "missing.log"), env=env)
    assert res.returncode == 3 and "missing.log" in res.stderr
    no_traceback(res)


def test_logs_only_without_any_config(tmp_path: Path) -> None:
    """No nginx, no config: the error log alone still yields a root cause."""
    d = FIXTURES / "backend-down-tcp"
    conf = tmp_path / "none.conf"
    res = why502("--offline", "--nginx-conf", str(conf), "--error-log", str(d / "error.log"))
    assert res.returncode == 3  # an explicit config that does not exist is an input error
    res = why502("--offline", "--error-log", str(d / "error.log"),
                 env={"PATH": str(tmp_path)})
    no_traceback(res)
    assert res.returncode == 1 and "backend-not-running" in res.stdout.splitlines()[0]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to compare root vs nobody")
def test_default_run_as_root_on_this_host() -> None:
    """nginx installed, nothing configured (Debian's default config): an answer, no traceback."""
    if not Path("/etc/nginx/nginx.conf").exists():
        pytest.skip("no /etc/nginx/nginx.conf")
    res = why502(timeout=HANG)
    no_traceback(res)
    assert res.returncode in (0, 1), res.stderr
    assert res.stdout.splitlines()[0][:1] in ("✔", "✘")


def _nobody_can_run() -> bool:
    return (os.geteuid() == 0 and shutil.which("runuser") is not None
            and Path("/usr/bin/python3").exists()
            and subprocess.run(["/usr/bin/python3", "-c", "import sys; assert sys.version_info[:2] == "
                                f"{tuple(sys.version_info[:2])}"], capture_output=True).returncode == 0)


@pytest.mark.skipif(not _nobody_can_run(), reason="needs root, runuser and a matching /usr/bin/python3")
def test_unprivileged_user_gets_an_answer_or_one_line() -> None:
    res = why502(user="nobody", timeout=HANG)
    no_traceback(res)
    assert res.returncode in (0, 1, 3), res.stderr
    if res.returncode == 3:
        assert len(res.stderr.strip().splitlines()) == 1
    else:
        assert res.stdout.splitlines()[0][:1] in ("✔", "✘")


@pytest.mark.skipif(not _nobody_can_run(), reason="needs root, runuser and a matching /usr/bin/python3")
def test_unprivileged_user_with_readable_inputs_gets_the_cause(tmp_path: Path) -> None:
    d = FIXTURES / "wrong-target-fpm-socket"
    res = why502("--nginx-conf", str(d / "nginx.conf"), "--error-log", str(d / "error.log"),
                 "--format", "json", user="nobody", timeout=HANG)
    no_traceback(res)
    doc = json.loads(res.stdout)
    assert res.returncode == 1 and doc["findings"]


# -- the demo ----------------------------------------------------------------------------------


def _demo_expected() -> str:
    manifest = ROOT / "src" / "why502" / "demo" / "manifest.json"
    cause: str = json.loads(manifest.read_text())["expected"]["cause"]
    return cause


def test_demo_works_without_nginx_and_ranks_the_real_cause_first(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path)}  # no nginx, nothing on PATH
    res = why502("--demo", env=env)
    no_traceback(res)
    assert res.returncode == 1, res.stderr
    assert _demo_expected() in res.stdout.splitlines()[0]
    assert "/tmp/why502-demo" not in res.stdout  # paths shown as the recording's /lab
    js = why502("--demo", "--format", "json", env=env)
    doc = json.loads(js.stdout)
    jsonschema.validate(doc, load_schema())
    top = doc["findings"][0]
    assert top["cause"] == _demo_expected() and doc["inputs"]["demo"] is True
    assert doc["inputs"]["offline"] is True
    assert top["fix"]["diff"] and "pm.max_children" in top["fix"]["diff"]
    kinds = {e["kind"] for e in top["evidence"]}
    assert {"log", "probe", "config"} <= kinds  # recorded logs + the snapshot probe + the pool


# -- correlation with the kernel log (--kernel-log) ----------------------------------------------


@pytest.mark.parametrize("style", ["syslog", "iso"])
def test_kernel_oom_kill_at_the_failure_time_is_the_root_cause(tmp_path: Path, style: str) -> None:
    """The recorded backend death (premature close, then refusals) + an OOM kill of a python3 at
    that second (kernel format of mm/oom_kill.c, proxy-messages.md section 8)."""
    d = FIXTURES / "backend-crashed-exit"
    first = (d / "error.log").read_text().splitlines()[0][:19]  # "YYYY/MM/DD HH:MM:SS"
    from datetime import datetime

    when = datetime.strptime(first, "%Y/%m/%d %H:%M:%S")
    stamp = (when.strftime("%b %d %H:%M:%S") if style == "syslog"
             else when.astimezone().isoformat(timespec="microseconds"))
    kern = tmp_path / "kern.log"
    kern.write_text(
        f"{stamp} host kernel: [ 9123.456789] Out of memory: Killed process 412 (python3) "
        "total-vm:1716580kB, anon-rss:1461342kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:3371kB "
        "oom_score_adj:0\n")
    res = why502(*fixture_args("backend-crashed-exit"), "--kernel-log", str(kern), "--format", "json")
    no_traceback(res)
    doc = json.loads(res.stdout)
    top = doc["findings"][0]
    assert top["cause"] == "backend-oom-killed", [f["cause"] for f in doc["findings"]]
    assert set(top["symptoms"]) == {"premature-close", "connection-refused"}
    assert [f["cause"] for f in doc["findings"]] == ["backend-oom-killed"]  # the rest is folded
    assert any(e["kind"] == "kernel" and "Killed process 412" in (e["text"] or "")
               for e in top["evidence"])
    # an OOM kill a day earlier explains nothing
    kern.write_text(kern.read_text().replace(stamp, (when.replace(day=when.day - 1) if when.day > 1
                                                     else when.replace(month=when.month % 12 + 1))
                                             .strftime("%b %d %H:%M:%S")))
    res = why502(*fixture_args("backend-crashed-exit"), "--kernel-log", str(kern), "--format", "json")
    assert json.loads(res.stdout)["findings"][0]["cause"] == "backend-crashed"


def test_since_skips_rotated_files_written_before_it(tmp_path: Path) -> None:
    d = FIXTURES / "backend-down-tcp"
    log = tmp_path / "error.log"
    old = tmp_path / "error.log.1"
    log.write_text("")
    old.write_text((d / "error.log").read_text())
    os.utime(old, (1_000_000_000, 1_000_000_000))  # 2001: rotated long ago
    args = ["--offline", "--nginx-conf", str(d / "nginx.conf"), "--error-log", str(log),
            "--format", "json"]
    everything = json.loads(why502(*args).stdout)
    assert everything["findings"] and str(old) in everything["inputs"]["error_logs"]  # rotated set
    recent = json.loads(why502(*args, "--since", "2h").stdout)
    assert not recent["findings"] and str(old) not in recent["inputs"]["error_logs"]
    # the log read is empty and the rotated one before --since: only the config was judged, which
    # is no finding, not "healthy" (it said so)
    assert recent["judged"] == ["config"] and recent["healthy"] is False
    assert recent["inputs"]["empty_logs"] == [str(log)]


def test_demo_report_is_what_the_recording_diagnoses_to_today() -> None:
    """``--demo`` shows the saved ``why502/demo/report.json``; it must stay what today's code
    makes of the bundled recording.  After changing an analyzer, save it again:
    ``python -c 'from pathlib import Path; from why502.app.diagnose.demo import
    write_demo_report; write_demo_report(Path("src/why502/demo"))'``."""
    from why502.app.diagnose.demo import build_demo_report, bundle_dir, saved_form
    from why502.reporters.json.report import to_json

    saved = bundle_dir().joinpath("report.json").read_text("utf-8")
    assert to_json(saved_form(build_demo_report())) == saved


def test_demo_is_stamped_with_this_run_and_takes_no_since() -> None:
    from why502.app.diagnose import DiagnoseOptions, diagnose

    report = diagnose(DiagnoseOptions(demo=True))
    assert report.host == socket.gethostname() and report.generated_at and report.tool_version
    assert list(report.inputs)[-1] == "elapsed_ms"
    res = why502("--demo", "--since", "30m")
    assert res.returncode == 2 and "--since" in res.stderr
    no_traceback(res)
