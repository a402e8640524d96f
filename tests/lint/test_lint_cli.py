"""`why502 lint` end to end: exit codes, JSON, SARIF (schema-validated), stdin dumps from the real
nginx, the `nginx -T` discovery path, and fix diffs that the real nginx accepts."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest

from tests.support.paths import FIXTURES_DIR
from why502.cli.main import main

FIXTURES = FIXTURES_DIR / "lint"
SARIF_SCHEMA = FIXTURES_DIR / "schemas" / "sarif-2.1.0.json"
NGINX = "/usr/sbin/nginx"


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["lint", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    error_fixture = str(FIXTURES / "W502-018/fire-regex.conf")  # an error-severity rule
    warn_fixture = str(FIXTURES / "W502-002/fire-proxy-host.conf")  # warnings only
    assert run_cli([error_fixture, "--no-host"], capsys)[0] == 1
    code, out, _ = run_cli([warn_fixture, "--no-host"], capsys)
    assert code == 0 and "W502-002" in out  # default --fail-on error
    assert run_cli([warn_fixture, "--no-host", "--fail-on", "warning"], capsys)[0] == 1
    assert run_cli([error_fixture, "--no-host", "--fail-on", "never"], capsys)[0] == 0
    assert run_cli([str(FIXTURES / "W502-018/silent-prefix-or-var.conf"), "--no-host",
                    "--fail-on", "info"], capsys)[0] == 0


def test_unreadable_config_is_exit_3_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli([str(tmp_path / "missing.conf")], capsys)
    assert code == 3 and out == ""
    assert err.count("\n") == 1 and "no such file" in err
    code, _, err = run_cli(["--rule", "W999-999", str(FIXTURES / "W502-002/fire-proxy-host.conf")], capsys)
    assert code == 2 and "unknown lint rule" in err


def test_not_an_nginx_config_is_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    garbage = tmp_path / "passwd"
    garbage.write_text("root:x:0:0:root:/root:/bin/bash\n\x1b[31mred\n")
    code, out, err = run_cli([str(garbage)], capsys)
    assert code == 3 and out == "" and err.count("\n") == 1
    assert "not a readable nginx config" in err and "\x1b" not in err


def test_rule_filter_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(FIXTURES / "W502-001/fire-defaults.conf")
    rule = "upstream-keepalive-without-http11"
    code, out, _ = run_cli([path, "--no-host", "--format", "json", "--rule", rule], capsys)
    data = json.loads(out)
    assert code == 0
    assert [f["code"] for f in data["findings"]] == ["W502-001"]
    f = data["findings"][0]
    assert f["file"] == path and f["line"] == 10 and f["severity"] == "warning"
    assert "+            proxy_http_version 1.1;" in f["diff"]
    assert '+            proxy_set_header Connection "";' in f["diff"]


def test_sarif_validates_against_schema(capsys: pytest.CaptureFixture[str]) -> None:
    path = FIXTURES / "W502-017/fire-replaced-params.conf"
    code, out, _ = run_cli([str(path), "--no-host", "--format", "sarif"], capsys)
    assert code == 1
    log = json.loads(out)
    schema = json.loads(SARIF_SCHEMA.read_text())
    jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker()).validate(log)
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert len(rules) == 23
    assert all(r["helpUri"].endswith(f"docs/lint/{r['id']}.md") for r in rules)
    (result,) = [r for r in run["results"] if r["ruleId"] == "W502-017"]
    loc = result["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == path.resolve().as_uri()
    assert loc["region"]["startLine"] == 9
    assert result["level"] == "error" and rules[result["ruleIndex"]]["id"] == "W502-017"


def test_text_output_strips_terminal_escapes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text("events { }\nhttp { server { location / {\n"
                    "proxy_pass http://evil\x1b]0;pwned\x07.example; } } }\n")
    _code, out, _ = run_cli([str(conf), "--no-host", "--color", "never"], capsys)
    assert "W502-002" in out
    assert "\x1b" not in out and "\x07" not in out


# --- real nginx -----------------------------------------------------------------------------


def nginx_site(tmp_path: Path) -> Path:
    if not os.access(NGINX, os.X_OK):
        pytest.skip("nginx is not installed")
    conf = tmp_path / "nginx.conf"
    conf.write_text(textwrap.dedent("""\
        pid nginx.pid;
        error_log stderr;
        events { worker_connections 64; }
        http {
            access_log off;
            upstream app { server 127.0.0.1:9; keepalive 4; }
            include conf.d/*.conf;
        }
        """))
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d/site.conf").write_text(textwrap.dedent("""\
        server {
            listen 127.0.0.1:18080;
            location / {
                proxy_pass http://app;
            }
        }
        """))
    return conf


def test_stdin_dump_from_real_nginx(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    conf = nginx_site(tmp_path)
    dump = subprocess.run([NGINX, "-T", "-p", str(tmp_path), "-c", str(conf), "-e", "stderr"],
                          capture_output=True, text=True, check=True, timeout=30).stdout
    monkeypatch.setattr(sys, "stdin", io.StringIO(dump))
    _code, out, _ = run_cli(["-", "--format", "json", "--no-host"], capsys)
    data = json.loads(out)
    (finding,) = [f for f in data["findings"] if f["code"] == "W502-001"]
    assert finding["file"] == str(tmp_path / "conf.d/site.conf") and finding["line"] == 4
    # the diff is against the dumped file's text, with its real path
    assert f"--- a{tmp_path}/conf.d/site.conf" in finding["diff"]


def test_default_runs_nginx_T(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    """No NGINX_CONF: why502 runs `nginx -T` (here a wrapper pinning the real nginx to a temp
    prefix), and falls back to the default file when nginx -T fails."""
    conf = nginx_site(tmp_path)
    wrapper = tmp_path / "nginx-wrapper"
    wrapper.write_text(f'#!/bin/sh\nexec {NGINX} -p "{tmp_path}" -c "{conf}" -e stderr "$@"\n')
    wrapper.chmod(0o755)
    import why502.proxies.nginx.source as src

    monkeypatch.setattr(src, "find_nginx", lambda: str(wrapper))
    code, out, _ = run_cli(["--format", "json", "--no-host"], capsys)
    data = json.loads(out)
    assert code == 0  # warnings/info only, default --fail-on error
    assert data["inputs"]["nginx_conf"] == "nginx -T"
    assert any(f["code"] == "W502-001" for f in data["findings"])

    broken = tmp_path / "broken-nginx"
    broken.write_text("#!/bin/sh\necho 'nginx: [emerg] open() failed (13: Permission denied)' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setattr(src, "find_nginx", lambda: str(broken))
    monkeypatch.setattr(src, "DEFAULT_CONF", str(conf))
    _code, out, _ = run_cli(["--format", "json", "--no-host"], capsys)
    data = json.loads(out)
    assert any("Permission denied" in d["message"] for d in data["diagnostics"])
    assert any(f["code"] == "W502-001" for f in data["findings"])


def nginx_accepts(conf: Path, prefix: Path) -> tuple[bool, str]:
    proc = subprocess.run([NGINX, "-t", "-q", "-p", str(prefix), "-c", str(conf), "-e", "stderr"],
                          capture_output=True, text=True, check=False, timeout=30)
    return proc.returncode == 0, proc.stderr


FIXED_BY_DIFF = [
    "W502-001/fire-defaults.conf", "W502-001/fire-version-only.conf", "W502-004/fire-default-buffer.conf",
    "W502-005/fire-backend-timeout.conf", "W502-017/fire-replaced-params.conf",
    "W502-021/fire-default-timeout.conf",
]


@pytest.mark.parametrize("fixture", FIXED_BY_DIFF)
def test_fix_diffs_pass_nginx_t(fixture: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each fix diff, applied with `patch`, gives a config the real nginx accepts (`nginx -t`)."""
    if not os.access(NGINX, os.X_OK):
        pytest.skip("nginx is not installed")
    src = FIXTURES / fixture
    conf = tmp_path / "nginx.conf"
    text = src.read_text()
    conf.write_text("pid nginx.pid;\nerror_log stderr;\n" + text)
    ok, err = nginx_accepts(conf, tmp_path)
    assert ok, f"fixture itself is not valid nginx config: {err}"
    opts = [a for line in text.splitlines() if line.startswith("# why502-lint:")
            for a in line.split(":", 1)[1].split()]
    flags = []
    for opt in opts:
        key, _, value = opt.partition("=")
        flags += [f"--{key.replace('_', '-')}", value]
    args = [str(conf), "--no-host", "--format", "json", "--rule", fixture.split("/")[0], *flags]
    _code, out, _ = run_cli(args, capsys)
    diffs = [f["diff"] for f in json.loads(out)["findings"] if f["diff"]]
    assert diffs
    depth = len(Path(str(conf).lstrip("/")).parts)
    subprocess.run(["patch", f"-p{depth}", "-s", "-i", "-", str(conf)], input=diffs[0], text=True, check=True)
    ok, err = nginx_accepts(conf, tmp_path)
    assert ok, err
    shutil.rmtree(tmp_path / "conf.d", ignore_errors=True)


# --- silencing findings: --ignore and "# why502: ignore" ------------------------------------


ONE_SERVER = FIXTURES / "W502-007/fire-one-server.conf"


def codes_of(args: list[str], capsys: pytest.CaptureFixture[str], enable: str = "ALL") -> list[str]:
    code, out, err = run_cli([*args, "--no-host", "--format", "json"]
                             + (["--enable", enable] if enable else []), capsys)
    assert code in (0, 1), err
    return [f["code"] for f in json.loads(out)["findings"]]


def test_trade_off_rules_are_off_until_enabled_or_selected(capsys: pytest.CaptureFixture[str]) -> None:
    """Like ruff: W502-007 (informational) is off by default; --enable adds it to the default
    rules, --select runs exactly the rules named."""
    assert "W502-007" not in codes_of([str(ONE_SERVER)], capsys, enable="")
    assert "W502-007" in codes_of([str(ONE_SERVER)], capsys, enable="W502-007")
    assert codes_of([str(ONE_SERVER), "--select", "single-server-upstream-without-backup"], capsys,
                    enable="") == ["W502-007"]
    code, out, _ = run_cli(["--list-rules"], capsys)
    assert code == 0 and "single-server-upstream-without-backup" in out
    assert [ln[:8] for ln in out.splitlines() if "(off by default)" in ln] == ["W502-006", "W502-007",
                                                                              "W502-016"]


def test_ignore_option_silences_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert "W502-007" in codes_of([str(ONE_SERVER)], capsys)
    assert "W502-007" not in codes_of([str(ONE_SERVER), "--ignore", "W502-007"], capsys)
    assert "W502-007" not in codes_of([str(ONE_SERVER), "--ignore", "single-server-upstream-without-backup"],
                                      capsys)
    both = codes_of([str(FIXTURES / "W502-002/fire-proxy-host.conf")], capsys)
    assert "W502-002" in both
    assert codes_of([str(FIXTURES / "W502-002/fire-proxy-host.conf"), "--ignore", "w502-002,W502-007",
                     "--ignore", "W502-022"], capsys) == [c for c in both if c not in
                                                          ("W502-002", "W502-007", "W502-022")]
    code, out, err = run_cli([str(ONE_SERVER), "--ignore", "W502-999"], capsys)
    assert code == 2 and out == "" and "unknown lint rule 'W502-999' in --ignore" in err


def commented(tmp_path: Path, upstream_line: str, above: str = "") -> Path:
    conf = tmp_path / "nginx.conf"
    conf.write_text("events { }\nhttp {\n" + (f"    {above}\n" if above else "")
                    + f"    {upstream_line}\n        server 127.0.0.1:8000;\n    }}\n"
                    "    server { listen 127.0.0.1:8080; location / { proxy_pass http://app; } }\n}\n")
    return conf


@pytest.mark.parametrize(("line", "above", "silenced"), [
    ("upstream app {", "", False),  # no comment: it fires
    ("upstream app {  # why502: ignore W502-007", "", True),
    ("upstream app { # why502: ignore W502-002, W502-007 one backend by design", "", True),
    ("upstream app { # why502:ignore single-server-upstream-without-backup", "", True),
    ("upstream app { # why502: ignore", "", True),  # no codes: every rule
    ("upstream app {", "# why502: ignore W502-007", True),  # alone on the line above
    ("upstream app {", "# why502: ignore", True),
    ("upstream app {  # why502: ignore W502-002", "", False),  # another rule's code
    ("upstream app {", "# why502: ignore W502-001", False),
    ("upstream app {", "map $x $y { default 1; }  # why502: ignore W502-007", False),  # not alone
    ('upstream app { add_header X "# why502: ignore W502-007";', "", False),  # inside quotes
])
def test_inline_comment_silences_a_finding(line: str, above: str, silenced: bool, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    conf = commented(tmp_path, line, above)
    assert ("W502-007" not in codes_of([str(conf)], capsys)) is silenced
    assert "W502-007" in codes_of([str(conf), "--no-inline-ignores"], capsys)


def test_inline_comment_in_an_included_file_and_a_dump(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The comment is read from the file the finding points at: an included file, or the file's
    text inside an `nginx -T` dump."""
    conf = nginx_site(tmp_path)
    site = tmp_path / "conf.d/site.conf"
    assert "W502-001" in codes_of([str(conf)], capsys)
    site.write_text(site.read_text().replace("proxy_pass http://app;",
                                             "proxy_pass http://app;  # why502: ignore W502-001"))
    assert "W502-001" not in codes_of([str(conf)], capsys)
    dump = subprocess.run([NGINX, "-T", "-p", str(tmp_path), "-c", str(conf), "-e", "stderr"],
                          capture_output=True, text=True, check=True, timeout=30).stdout
    monkeypatch.setattr(sys, "stdin", io.StringIO(dump))
    assert "W502-001" not in codes_of(["-"], capsys)


# --- why502 explain W502-xxx ---------------------------------------------------------------


def test_explain_shows_every_lint_rule(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # content, not layout: a wide terminal
    from why502.catalog.lint_rules import load_rules

    for code, rule in load_rules().items():
        for arg in (code, code.lower(), rule.name):
            assert main(["explain", arg]) == 0
            out = capsys.readouterr().out
            assert out.startswith(code) and rule.title in out
            for section in ("What it means", "Why it causes 502 or 504", "How to confirm", "Example",
                            "Fix", "References"):
                assert f"\n{section}\n" in out, (code, section)
            assert f"# why502: ignore {code}" in out
    assert main(["explain", "W502-001", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["type"] == "lint-rule" and doc["lint_rule"]["code"] == "W502-001"
    assert doc["lint_rule"]["name"] == "upstream-keepalive-without-http11"
    assert doc["lint_rule"]["docs"].endswith("docs/lint/W502-001.md")
    assert main(["explain", "W502-999"]) == 2
    assert "unknown lint rule 'W502-999'" in capsys.readouterr().err


def test_explain_lint_rule_stays_light() -> None:
    """`why502 explain W502-001` must not import polars, rich or crossplane (start-up time)."""
    probe = ("import contextlib, io, sys\nfrom why502.cli.main import main\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n"
             "    main(['explain', 'W502-001']); main(['explain', 'pass-without-port', '--format', 'json'])\n"
             "print(sorted(m for m in ('polars', 'rich', 'crossplane') if m in sys.modules))\n")
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


def _sarif_valid(out: str) -> dict[str, object]:
    log: dict[str, object] = json.loads(out)
    schema = json.loads(SARIF_SCHEMA.read_text())
    jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker()).validate(log)
    return log


def test_haproxy_config_sarif(capsys: pytest.CaptureFixture[str]) -> None:
    """`lint --config haproxy.cfg --format sarif`: detected from the content, HAProxy's rules
    only (tagged haproxy), valid SARIF; a warning alone exits 0 unless --fail-on warning."""
    path = FIXTURES / "W502-027/fire-default-retries.cfg"
    code, out, _ = run_cli(["--config", str(path), "--format", "sarif"], capsys)
    assert code == 0
    run = _sarif_valid(out)["runs"][0]  # type: ignore[index]
    rules = run["tool"]["driver"]["rules"]
    assert {r["properties"]["tags"][0] for r in rules} == {"haproxy"}
    assert [r["ruleId"] for r in run["results"]] == ["W502-027"]
    assert run["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 17
    assert run_cli(["--config", str(path), "--fail-on", "warning"], capsys)[0] == 1


def test_apache_config_with_fpm_pool_json(capsys: pytest.CaptureFixture[str]) -> None:
    """`lint --config` on an Apache config with --fpm-conf: enablereuse beyond the pool's
    pm.max_children is an error with a diff setting max= on the ProxyPass line."""
    path = FIXTURES / "W502-029/fire-reuse-default-max.conf"
    fpm = FIXTURES / "W502-029/fire-reuse-default-max.fpm.conf"
    code, out, _ = run_cli(["--config", str(path), "--fpm-conf", str(fpm), "--format", "json"], capsys)
    data = json.loads(out)
    assert code == 1 and data["inputs"]["proxy"] == "apache"
    (f,) = data["findings"]
    assert f["code"] == "W502-029" and f["line"] == 7 and "pm.max_children = 10" in f["message"]
    assert f["diff"].splitlines()[-2].endswith("enablereuse=on max=1")
    # without the pool the rule has nothing to compare with: silent
    code, out, _ = run_cli(["--config", str(path), "--format", "json"], capsys)
    assert code == 0 and json.loads(out)["findings"] == []


def test_an_unreadable_fpm_conf_is_exit_3_for_every_proxy(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A ``--fpm-conf`` that cannot be read is a one-line error (exit 3) whichever proxy's
    config is linted (app.lint's one path): going on without it would lint as if no pool
    existed and say "no findings" (Apache's went on with a note before issue 23's one path)."""
    missing = tmp_path / "no-such-fpm.conf"
    for conf in (FIXTURES / "W502-029/fire-reuse-default-max.conf", FIXTURES / "W502-001/fire-defaults.conf"):
        code, out, err = run_cli(["--config", str(conf), "--fpm-conf", str(missing)], capsys)
        assert (code, out) == (3, ""), conf
        assert err.strip().splitlines() == [f"why502: --fpm-conf {missing}: No such file or directory"]


def test_apache_comment_above_silences(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Apache has whole-line comments only: the line above a BalancerMember silences it."""
    conf = tmp_path / "site.conf"
    conf.write_text((FIXTURES / "W502-031/fire-members.conf").read_text().replace(
        '    BalancerMember "http://127.0.0.1:8001"\n',
        '    # why502: ignore W502-031 drained by hand\n    BalancerMember "http://127.0.0.1:8001"\n'))
    _code, out, _ = run_cli(["--config", str(conf), "--format", "json"], capsys)
    assert [f["line"] for f in json.loads(out)["findings"]] == [4]


def test_empty_file_forced_to_haproxy_is_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    odd = tmp_path / "lb.cfg"
    odd.write_text("# nothing\n")
    code, _out, err = run_cli(["--config", str(odd), "--proxy", "haproxy"], capsys)
    assert code == 3 and "not a readable haproxy.cfg" in err and len(err.strip().splitlines()) == 1


def _absolute_include_tree(tmp_path: Path) -> Path:
    """A main config whose server is in a file named by its absolute path (as /etc/nginx/...
    would be on the machine the config is for)."""
    inc = tmp_path / "elsewhere" / "site.conf"
    inc.parent.mkdir()
    inc.write_text("server {\n    listen 8080;\n"
                   "    location / { proxy_pass http://app.internal.example:8000; }\n}\n")
    main_conf = tmp_path / "nginx.conf"
    main_conf.write_text(f"events {{}}\nhttp {{\n    include {inc};\n}}\n")
    return main_conf


def test_named_config_reads_no_absolute_include_of_this_host(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 26: the answer must not depend on the machine lint runs on.  A named config's
    absolute include is not read (a note names it), unless --host or --root says where."""
    main_conf = _absolute_include_tree(tmp_path)
    inc = str(tmp_path / "elsewhere" / "site.conf")
    assert main(["lint", str(main_conf), "--format", "json", "--fail-on", "never"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["findings"] == []
    notes = [n["message"] for n in report["diagnostics"]]
    assert any(f'include "{inc}" not read' in n and "--root" in n for n in notes), notes
    assert report["inputs"]["files"] == [str(main_conf)]
    # --host: read from this machine, so the include's proxy_pass is seen (W502-002)
    assert main(["lint", str(main_conf), "--host", "--format", "json", "--fail-on", "never"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert "W502-002" in {f["code"] for f in report["findings"]}
    assert inc in report["inputs"]["files"]
    # --root DIR: the absolute path is read under DIR
    root = tmp_path / "copy"
    (root / str(tmp_path / "elsewhere").lstrip("/")).mkdir(parents=True)
    (root / inc.lstrip("/")).write_text(Path(inc).read_text())
    assert main(["lint", str(main_conf), "--root", str(root), "--format", "json", "--fail-on", "never"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert "W502-002" in {f["code"] for f in report["findings"]}
