"""``watch`` and ``diagnose`` name the same cause on the same window, for every proxy family.

watch keeps its window's lines in memory and hands them to ``diagnose`` itself
(``app.watch.diagnosis``), so the two agree by construction; this checks it through the CLI, as
a user runs them: the same lines given to ``why502 diagnose`` as files, and to ``why502 watch``
as the same files followed from their start and as one stream on stdin (``kubectl logs -f ... |
why502 watch -``).  Inputs: the lab's recorded logs (nginx, Apache, HAProxy), the recorded logs
of a real Envoy, Caddy and Traefik (``tests/fixtures/cloud/recorded``), and two bounded real
runs made here (a real HAProxy and a real Apache in front of a stopped backend).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.clirun import WHY502, why502

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REC = FIXTURES / "recorded"
CLOUD = FIXTURES / "cloud" / "recorded"
# any 5xx, any failure opens the incident: the test is about the cause, not the rules
RULES = ("--min-failures", "1", "--min-requests", "1", "--ratio", "0.01")
WATCH = ("watch", "--offline", "--format", "jsonl", "--listen", "off", "--duration", "240",
         "--max-events", "1", *RULES)


def diagnosed(*args: str) -> str:
    done = why502("diagnose", "--offline", "--format", "json", *args)
    assert done.returncode in (0, 1), done.stderr
    findings = json.loads(done.stdout)["findings"]
    return str(findings[0]["cause"]) if findings else "healthy"


def watched(args: tuple[str, ...], stdin: bytes | None = None) -> str:
    done = subprocess.run([WHY502, *WATCH, *args], input=stdin, capture_output=True, timeout=300,
                          check=False, stdin=None if stdin is not None else subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    events: list[dict[str, Any]] = [json.loads(ln) for ln in done.stdout.decode().splitlines()
                                    if ln.startswith("{")]
    assert events and events[0]["event"] == "incident-opened", (events, done.stderr.decode())
    return str(events[0]["incident"]["cause"])


def same_cause(config: list[str], errors: list[Path], access: list[Path],
               log_type: list[str] | None = None) -> str:
    """The cause diagnose names on the files, after checking watch names it too, on the files
    and on stdin (the files' lines one after the other, as one stream)."""
    extra = [*config, *(log_type or [])]
    named = [*(a for p in errors for a in ("--error-log", str(p))),
             *(a for p in access for a in ("--access-log", str(p)))]
    cause = diagnosed(*extra, *named)
    assert cause != "healthy"
    assert watched((*extra, *named, "--from-start")) == cause
    stream = b"".join(p.read_bytes() for p in [*errors, *access])
    assert watched((*extra, "-"), stdin=stream) == cause
    return cause


@pytest.mark.parametrize("scenario", ["backend-down-tcp", "backend-too-slow", "all-upstreams-down",
                                      "backend-crashed-reset"])
def test_nginx_recorded(scenario: str) -> None:
    d = REC / scenario
    same_cause(["--config", str(d / "nginx.conf")], [d / "error.log"], [d / "access.log"])


@pytest.mark.parametrize("scenario", ["haproxy-backend-down", "haproxy-too-slow"])
def test_haproxy_recorded(scenario: str) -> None:
    d = REC / scenario
    same_cause(["--config", str(d / "haproxy.cfg")], [d / "haproxy.log"], [])


@pytest.mark.parametrize("scenario", ["apache-backend-down", "apache-too-slow"])
def test_apache_recorded(scenario: str) -> None:
    d = REC / scenario
    same_cause(["--config", str(d / "apache2.conf")], [d / "apache-error.log"], [])


@pytest.mark.parametrize(("rel", "family"), [
    ("envoy/envoy-default.log", None),
    ("envoy/envoy-istio-json.log", "envoy"),
    ("caddy-2.6.2-debian/caddy-access.log", None),
    ("traefik-json/traefik-access-json.log", "traefik"),
    ("traefik-common/traefik-access-common.log", None),
])
def test_edge_recorded(rel: str, family: str | None) -> None:
    """A real Envoy's, Caddy's and Traefik's access logs (detected, or named by --log-type)."""
    same_cause([], [], [CLOUD / rel], ["--log-type", family] if family else None)


@pytest.mark.real
@pytest.mark.parametrize("scenario", ["haproxy-backend-down", "apache-backend-down"])
def test_real_proxy_run(scenario: str) -> None:
    """A real HAProxy / Apache started here on loopback in front of a stopped backend (the lab's
    scenario, bounded: a few requests), then its config and log through both commands."""
    from why502.lab.runtime import LabSkip, Stack
    from why502.lab.scenarios import RECORDINGS

    with Stack() as stack:
        try:
            run = RECORDINGS[scenario].run(stack)
        except LabSkip as err:
            pytest.skip(str(err))
        assert run.config is not None and run.error_log is not None
        cause = same_cause(["--config", str(run.config)], [run.error_log], [])
        if run.access_log is not None:
            # Apache's access log too (its LogFormat, read through Hooks.watch_access): every
            # line once failed nginx's format and watch never opened an incident
            assert same_cause(["--config", str(run.config)], [run.error_log], [run.access_log]) == cause
    assert cause == RECORDINGS[scenario].cause


def test_every_flag_watch_hands_diagnose_is_one_diagnose_takes() -> None:
    """The child's command line is parsed by diagnose's own parser (a flag diagnose does not
    take made every live diagnosis fail with 'unrecognized arguments')."""
    from why502.app.watch.diagnosis import DiagnosisInputs, diagnose_argv
    from why502.cli.main import build_parser

    parser, _commands = build_parser()
    for offline in (False, True):
        argv = diagnose_argv(DiagnosisInputs(config="nginx.conf", proxy="nginx", log_type="envoy",
                                             offline=offline, extra=["--discover"]),
                             [("error", "e.log"), ("fpm", "f.log"), ("access", "a.log"),
                              ("lb", "b.log")])
        args = parser.parse_args(argv)
        assert args.config == "nginx.conf" and args.offline is offline
        assert args.error_log == ["e.log"] and args.access_log == ["a.log", "b.log"]


@pytest.mark.real
@pytest.mark.parametrize("cell", ["backend-5xx-haproxy-tcp4-steady-quiet",
                                  "backend-5xx-apache-tcp4-steady-quiet"])
def test_real_relayed_5xx(cell: str) -> None:
    """A backend's own 502s relayed by a real HAProxy / Apache (a fault-matrix cell: it runs
    diagnose, then watch on the same logs, and fails when their causes differ).  HAProxy's one
    log and Apache's access log are read as diagnose reads them (Hooks.watch_access); before,
    watch counted only failure lines and a relayed 5xx never opened an incident."""
    from why502.lab import matrix
    from why502.lab.runtime import LabSkip

    try:
        result = matrix.run_cell(next(c for c in matrix.cells() if c.name == cell))
    except LabSkip as err:
        pytest.skip(str(err))
    assert result.reproduced, result.error
    assert result.watched == result.got == "upstream-returned-5xx", result


def test_a_kernel_log_goes_to_the_diagnosis_as_diagnose_s() -> None:
    """``watch --kernel-log FILE`` hands its window to the diagnosis as ``--kernel-log``: the
    recorded OOM kill names the cause in watch as in diagnose (without it, watch's diagnosis read
    this machine's ring buffer, where another program's kill could be taken for the backend's,
    and offline it reads none: the crash is then all that is known)."""
    d = REC / "backend-oom-killed"
    named = ("--config", str(d / "nginx.conf"), "--error-log", str(d / "error.log"),
             "--access-log", str(d / "access.log"))
    cause = diagnosed(*named, "--kernel-log", str(d / "kernel.log"))
    assert cause == "backend-oom-killed"
    assert watched((*named, "--kernel-log", str(d / "kernel.log"), "--from-start")) == cause
    assert watched((*named, "--from-start")) != cause
