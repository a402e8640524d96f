"""The same config defect in many blocks is one finding (``places``, schema 1.3) whose one diff fixes
every block: a config of virtual hosts written from one template used to give one finding and
one diff per host (5001 findings for 5000 hosts)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest

from tests.support.clirun import why502
from why502.analyzers.alike import group_alike
from why502.findings.model import EvidenceItem, Finding, Fix, Report
from why502.findings.patch import diff_edits, insert_after

SCHEMA = json.loads((Path(__file__).parents[2] / "src/why502/schemas/report.schema.json").read_text())


def _vhost(i: int) -> str:
    return (f"upstream u{i} {{\n    server 127.0.0.1:{20000 + i};\n    keepalive 8;\n}}\n"
            f"server {{\n    listen 80;\n    server_name s{i}.example;\n    location / {{\n"
            f"        proxy_pass http://u{i};\n    }}\n}}\n")


def _diagnose(conf: Path, tmp_path: Path) -> dict[str, object]:
    (tmp_path / "empty.log").write_text("")
    empty = str(tmp_path / "empty.log")
    res = why502("diagnose", "--offline", "--nginx-conf", str(conf), "--error-log", empty,
                 "--access-log", empty, "--format", "json")
    assert res.returncode in (0, 1), res.stderr
    data: dict[str, object] = json.loads(res.stdout)
    jsonschema.validate(data, SCHEMA)
    return data


def _keepalive(data: dict[str, object]) -> list[dict[str, object]]:
    findings = data["findings"]
    assert isinstance(findings, list)
    return [f for f in findings if f["cause"] == "keepalive-misconfigured"]


def _patched(tmp_path: Path, tree: Path, diff: str) -> Path:
    """A copy of ``tree`` with ``diff`` applied by the real ``patch -p1`` from ``/``'s view."""
    if shutil.which("patch") is None:
        pytest.fail("patch is needed (Debian: patch)")
    copy = tmp_path / "copy"
    shutil.copytree(tree, copy / tree.relative_to("/"))
    res = subprocess.run(["patch", "-p1", "-d", str(copy), "--dry-run"], input=diff, text=True,
                         capture_output=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    subprocess.run(["patch", "-p1", "-d", str(copy), "-s"], input=diff, text=True, check=True)
    return copy / tree.relative_to("/")


def test_one_file_of_many_hosts_gives_one_finding_and_one_diff(tmp_path: Path) -> None:
    tree = tmp_path / "conf"
    tree.mkdir()
    conf = tree / "nginx.conf"
    conf.write_text("events {}\nhttp {\n" + "".join(_vhost(i) for i in range(7)) + "}\n")
    data = _diagnose(conf, tmp_path)
    (one,) = _keepalive(data)
    places = one["places"]
    assert [p["upstream"] for p in places] == [f"u{i}" for i in range(7)]
    lines = conf.read_text().splitlines()
    assert all(lines[p["line"] - 1].strip().startswith("proxy_pass http://u") for p in places)
    assert one["upstream"] == "u0" and "6 more places" in one["explanation"]
    fixed = _patched(tmp_path, tree, one["fix"]["diff"]).joinpath("nginx.conf").read_text()
    assert fixed.count("proxy_http_version 1.1;") == 7 and fixed.count('proxy_set_header Connection "";') == 7
    assert list(one["fix"]["hashes"]) == [str(conf)]


def test_hosts_in_their_own_files_give_one_diff_over_all_of_them(tmp_path: Path) -> None:
    tree = tmp_path / "conf"
    (tree / "sites").mkdir(parents=True)
    for i in range(3):
        (tree / "sites" / f"s{i}.conf").write_text(_vhost(i))
    conf = tree / "nginx.conf"
    conf.write_text("events {}\nhttp {\n    include sites/*.conf;\n}\n")
    data = _diagnose(conf, tmp_path)
    (one,) = _keepalive(data)
    diff = one["fix"]["diff"]
    assert diff.count("+++ ") == 3
    assert sorted(one["fix"]["hashes"]) == sorted(str(tree / "sites" / f"s{i}.conf") for i in range(3))
    fixed = _patched(tmp_path, tree, diff)
    assert all("proxy_http_version 1.1;" in (fixed / "sites" / f"s{i}.conf").read_text() for i in range(3))


def test_the_text_report_shows_whole_hunks_of_a_long_diff(tmp_path: Path) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp {\n" + "".join(_vhost(i) for i in range(40)) + "}\n")
    (tmp_path / "empty.log").write_text("")
    args = ["diagnose", "--offline", "--nginx-conf", str(conf), "--error-log", str(tmp_path / "empty.log")]
    full = why502(*args, "-v")  # the whole report: every place, the whole diff
    assert full.returncode == 1, full.stderr
    assert "the same in 39 more places: u1 (" in " ".join(full.stdout.split())
    assert full.stdout.count("@@ ") >= 40
    # the first screen (24 lines): whole hunks only (none when the first does not fit), how much more
    res = why502(*args)
    assert res.returncode == 1 and len(res.stdout.splitlines()) <= 22, res.stdout
    shown = res.stdout.split("Fix:", 1)[1]
    assert "lines of this diff (40 hunks in all: -v shows it" in shown
    lines = shown.split("lines of this diff")[0].splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.strip().startswith("--- ")), None)
    if start is not None:
        cut = [ln[5:] for ln in lines[start:-1]]  # the diff as shown, 5 columns in, before the note
        assert 0 < sum(ln.startswith("@@") for ln in cut) < 40
        assert diff_edits("\n".join(cut) + "\n", str(conf)) is not None  # only whole hunks


def _finding(upstream: str, diff: str | None, *, count: int = 0) -> Finding:
    return Finding(cause="keepalive-misconfigured", title="t", confidence=0.6, status_codes=[],
                   symptoms=[], explanation=f"upstream {upstream} is wrong.", upstream=upstream,
                   evidence=[EvidenceItem(kind="config", summary="s", source="/c.conf", line=1)],
                   fix=Fix(summary="fix it", diff=diff, file="/c.conf"), count=count)


def test_edits_that_touch_the_same_lines_are_not_made_one_diff() -> None:
    files = {"/c.conf": ("a", "b", "c")}
    first = insert_after(files, "/c.conf", 2, ["x;"])
    second = insert_after(files, "/c.conf", 2, ["y;"])
    kept = group_alike([_finding("u0", first), _finding("u1", second)], files)
    assert [f.upstream for f in kept] == ["u0", "u1"] and not kept[0].places


def test_incidents_are_never_put_together() -> None:
    files = {"/c.conf": ("a", "b", "c", "d", "e", "f", "g", "h", "i", "j")}
    one = _finding("u0", insert_after(files, "/c.conf", 1, ["x;"]), count=3)
    two = _finding("u1", insert_after(files, "/c.conf", 9, ["x;"]), count=5)
    assert group_alike([one, two], files) == [one, two]
    together = group_alike([_finding("u0", one.fix.diff if one.fix else None),
                            _finding("u1", two.fix.diff if two.fix else None)], files)
    assert len(together) == 1 and [p.upstream for p in together[0].places] == ["u0", "u1"]


def test_a_report_with_places_survives_its_json_round_trip() -> None:
    files = {"/c.conf": ("a", "b", "c", "d", "e", "f", "g", "h", "i", "j")}
    merged = group_alike([_finding("u0", insert_after(files, "/c.conf", 1, ["x;"])),
                          _finding("u1", insert_after(files, "/c.conf", 9, ["x;"]))], files)
    report = Report(findings=merged)
    data = json.loads(json.dumps(report.to_dict()))
    jsonschema.validate(data, SCHEMA)
    assert Report.from_dict(data) == report
