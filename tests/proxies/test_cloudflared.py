"""cloudflared as a registered proxy, through the CLI as a user runs it (issue 24 item 3, issue 23's
"one folder and one line in FOLDERS"): its ``config.yml`` detected and read, linted (W502-047..050)
with diffs, joined to its origin-error log by ``diagnose``, refused by ``fix`` in one line.

Configs and log lines are from public threads (tests/fixtures/public/cloudflared/README.md).
First score, before the folder existed (main at df953c3): ``why502 lint --config`` on the four
public configs exited 3 ("not a config of ... that why502 recognises") for all four, and
``diagnose --config issue-742-config.yml --error-log issue-742-cloudflared.log`` exited 3 the same
way; the log alone was read (backend-not-running at ``[::1]:8080``), the config never.  With the
folder and W502-047..049, cloudflared#277's config (``no-tls-verify: yes`` beside its service)
still said "no findings": W502-050 followed from that score and from config/configuration.go.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import RunMain
from tests.support.paths import FIXTURES_DIR
from why502.proxies import detect_text
from why502.proxies.cloudflared import log as cloudflared_log
from why502.proxies.cloudflared.config import DEFAULTS, duration_seconds, parse_cloudflared_text

PUB = FIXTURES_DIR / "public" / "cloudflared"


@pytest.mark.parametrize("name", ["issue-277-config.yml", "docker-mods-307-tunnelconfig.yml",
                                  "issue-742-config.yml", "issue-590-config.yml"])
def test_public_configs_are_cloudflareds(name: str) -> None:
    assert detect_text((PUB / name).read_text()) == "cloudflared"


def test_comments_quotes_and_other_yaml_are_not_marks() -> None:
    # the marks commented out or inside quoted strings are no cloudflared config
    assert detect_text("# tunnel: x\n# ingress:\n#   - service: http://a:1\nfoo: 1\n") is None
    assert detect_text('note: "tunnel: x credentials-file: y"\nservices: []\n') != "cloudflared"
    # a Kubernetes Ingress keeps its rules under spec:, a Helm values file's ingress: is a mapping
    assert detect_text("apiVersion: networking.k8s.io/v1\nkind: Ingress\nspec:\n  rules:\n"
                       "  - host: a.example\n    http:\n      paths: []\n") != "cloudflared"
    assert detect_text("ingress:\n  enabled: true\n  hosts:\n    - chart.example\n") is None


def test_rules_settings_defaults_and_overrides() -> None:
    cfg = parse_cloudflared_text(
        "tunnel: t\ncredentials-file: /c.json\noriginRequest:\n  connectTimeout: 10s\n"
        "  keepAliveTimeout: 30s\ningress:\n  - hostname: a.example.com\n    path: ^/api\n"
        "    service: 'http://127.0.0.1:8000'  # quoted\n    originRequest:\n"
        "      keepAliveTimeout: 4s\n  - hostname: b.example.com\n    service: unix:/run/app.sock\n"
        "  - service: http_status:404\n", "config.yml")
    a, b, last = cfg.rules
    assert (a.key, a.route, a.line, last.status, last.catch_all) == ("127.0.0.1:8000", "a.example.com^/api",
                                                                     7, 404, True)
    assert (a.settings["keepAliveTimeout"].value, a.settings["keepAliveTimeout"].line) == ("4s", 11)
    assert (b.settings["keepAliveTimeout"].value, b.settings["connectTimeout"].line) == ("30s", 4)
    assert a.settings["tlsTimeout"].is_default and a.settings["tlsTimeout"].value == DEFAULTS["tlsTimeout"]
    assert b.key == "unix:/run/app.sock" and last.key is None
    assert duration_seconds("1m30s") == 90 and duration_seconds("30") is None


def _lint(run_main: RunMain, *args: str) -> tuple[int, dict[str, object]]:
    code, out, err = run_main("lint", *args, "--format", "json")
    assert code in (0, 1), err
    return code, json.loads(out)


def test_lint_names_localhost_with_a_diff_keeping_the_rest(run_main: RunMain, tmp_path: Path) -> None:
    conf = tmp_path / "config.yml"
    conf.write_text("tunnel: home  # the tunnel\ncredentials-file: /etc/cloudflared/home.json\n"
                    + (PUB / "docker-mods-307-tunnelconfig.yml").read_text())
    _code, report = _lint(run_main, "--config", str(conf))
    found = [f for f in report["findings"] if f["code"] == "W502-048"]  # type: ignore[union-attr,index]
    assert len(found) == 1 and found[0]["line"] == 5, report
    diff = found[0]["diff"]
    assert "-    service: http://localhost:80\n+    service: http://127.0.0.1:80\n" in diff, diff
    assert diff.count("\n-") == 1 and diff.count("\n+") == 1 + 1  # one line changed (+ the header)
    if shutil.which("patch"):
        subprocess.run(["patch", "-s", str(conf)], input=diff, text=True, check=True)
        assert "# the tunnel" in conf.read_text()
        _code, again = _lint(run_main, "--config", str(conf))
        assert not [f for f in again["findings"] if f["code"] == "W502-048"]  # type: ignore[union-attr,index]


def test_lint_keepalive_needs_the_origins_and_adds_origin_request(run_main: RunMain, tmp_path: Path) -> None:
    conf = tmp_path / "config.yml"
    conf.write_text((PUB / "issue-277-config.yml").read_text().replace("https://192.168.100.254",
                                                                      "http://192.168.100.254:3000"))
    _code, report = _lint(run_main, "--config", str(conf))
    assert not [f for f in report["findings"] if f["code"] == "W502-049"]  # type: ignore[union-attr,index]
    _code, report = _lint(run_main, "--config", str(conf), "--backend-keepalive", "5")
    found = [f for f in report["findings"] if f["code"] == "W502-049"]  # type: ignore[union-attr,index]
    assert len(found) == 1 and "1m30s (cloudflared's default)" in found[0]["message"], found
    assert "+   originRequest:\n+     keepAliveTimeout: 4s\n" in found[0]["diff"], found[0]["diff"]


def test_lint_of_a_file_cloudflared_refuses(run_main: RunMain) -> None:
    code, _out, err = run_main("lint", "--config", str(PUB / "issue-590-config.yml"))
    assert code == 3 and err.count("\n") == 1 and "not a readable cloudflared config (YAML)" in err, err


def test_diagnose_joins_the_log_to_the_rule(run_main: RunMain) -> None:
    """The Go error names [::1]:8080; the rule says http://localhost:8080: the finding names the
    rule's target, its origin service and its line (``facts.peer_aliases``)."""
    code, out, err = run_main("diagnose", "--offline", "--config", str(PUB / "issue-742-config.yml"),
                              "--error-log", str(PUB / "issue-742-cloudflared.log"), "--format", "json")
    assert code == 1, err
    report = json.loads(out)
    top = report["findings"][0]
    assert (top["cause"], top["target"], top["proxy"]) == ("backend-not-running", "localhost:8080",
                                                           "cloudflared"), top
    assert top["upstream"] == "http://localhost:8080", top
    lines = [e.get("line") for e in top["evidence"] if e.get("kind") == "config"]
    assert 4 in lines, top["evidence"]  # the rule (- hostname: play.example.com)


def test_fix_is_refused_in_one_line(run_main: RunMain) -> None:
    code, _out, err = run_main("fix", "--lint", str(PUB / "docker-mods-307-tunnelconfig.yml"))
    assert code == 3 and err.count("\n") == 1 and "cloudflared" in err, err


def test_a_tls_setting_beside_the_service_is_moved_under_origin_request(run_main: RunMain,
                                                                        tmp_path: Path) -> None:
    conf = tmp_path / "config.yml"
    conf.write_text((PUB / "issue-277-config.yml").read_text())
    _code, report = _lint(run_main, "--config", str(conf))
    found = [f for f in report["findings"] if f["code"] == "W502-050"]  # type: ignore[union-attr,index]
    assert len(found) == 1 and found[0]["line"] == 7 and "no-tls-verify" in found[0]["message"], report
    assert "-   no-tls-verify: yes\n+   originRequest:\n+     noTLSVerify: true\n" in found[0]["diff"]


def test_classify_reads_the_json_lines_of_a_localhost_origin(run_main: RunMain) -> None:
    code, out, _err = run_main("classify", str(PUB / "issue-622-cloudflared.log"), "--format", "jsonl",
                               "--no-progress")
    assert code == 1
    rows = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    assert len(rows) == 3 and {r["source"] for r in rows} == {"cloudflared"}, rows


_TIME = r"(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d))?\s*"
_BEFORE = {  # the console lines' regexes as first written: any blank could start them
    "_OLD_CONSOLE": re.compile(r"(?:^|[\s`'\"])" + _TIME + r"ERR\s+(?:CF-RAY: (?P<ray>\S+) )?"
                               r"Proxying to ingress (?P<rule>\d+) error: "
                               r"(?P<error>Error proxying request to origin: .*?)[`'\"]?\s*$"),
    "_CONSOLE": re.compile(r"(?:^|\s)" + _TIME + r"(?P<level>ERR|WRN)\s+"
                           r"(?P<request_failed>Request failed\s+)?"
                           r'error="(?P<error>(?:[^"\\]|\\.)*)"(?P<fields>.*)$'),
    "_CARRIER": re.compile(r"(?:^|\s)" + _TIME + r'ERR\s+failed to connect to origin\s+'
                           r'error="(?P<error>(?:[^"\\]|\\.)*)"(?P<fields>.*)$'),
}


_HEADS = {
    "_OLD_CONSOLE": ["ERR CF-RAY: 8474a4 Proxying to ingress 0 error: Error proxying request to origin: "
                     "dial tcp",
                     "ERR  Proxying to ingress 2 error: Error proxying request to origin: EOF"],
    "_CONSOLE": ['ERR error="dial tcp: refused" cfRay=8474', 'WRN Request failed error="x\\"y" a=b'],
    "_CARRIER": ['ERR failed to connect to origin error="dial tcp: refused" originURL=x',
                 'ERR  failed to connect to origin  error="EOF"'],
}


@pytest.mark.parametrize("name", sorted(_BEFORE))
def test_console_lines_match_as_when_any_blank_could_start_them(name: str) -> None:
    """A start at a blank inside a run is no longer tried (it read the run to its end each time:
    13 s for 32 KB of blanks); generated lines -- the line's parts with blanks, quotes, times and
    junk around them, and random runs of its pieces -- give the same matches and groups."""
    now = getattr(cloudflared_log, name)
    rnd = random.Random(9)
    blanks = ["", " ", "  ", "\t", " \t ", "\n", "   "]
    junk = ["", "x", '"', "'", "`", "x ", "ERR", "1"]
    times = ["", "2024-01-18T06:04:54Z", "2024-01-18T06:04:54.123+01:00", "2024-01-18T06:04"]
    pieces = [*blanks, *junk, *times, "ERR ", "Proxying to ingress 0 error: ", 'error="a" ']
    found = 0
    for i in range(30_000):
        if i % 2:
            parts = [junk, blanks, times, blanks, _HEADS[name], blanks, junk]
            text = "".join(rnd.choice(part) for part in parts)
        else:
            text = "".join(rnd.choice(pieces) for _ in range(rnd.randrange(1, 12)))
        a, b = _BEFORE[name].search(text), now.search(text)
        assert (a is None) == (b is None), text
        if a is not None and b is not None:
            assert (a.span(), a.groupdict()) == (b.span(), b.groupdict()), text
            found += 1
    assert found > 3000, found
