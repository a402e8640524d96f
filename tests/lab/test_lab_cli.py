"""`why502 lab` command line."""

from __future__ import annotations

import json

import pytest

from why502.cli.main import main
from why502.lab.runtime import find_nginx
from why502.lab.scenarios import SCENARIOS


def test_lab_list_names_every_scenario_and_cause(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "list"]) == 0
    out = capsys.readouterr().out
    for name, scenario in SCENARIOS.items():
        assert name in out and (scenario.cause or "-") in out  # a control: "-"
    # the proxy of each scenario is shown (nginx or haproxy)
    assert any(line.split()[1] == "haproxy" for line in out.splitlines() if line.startswith("haproxy-"))


def test_lab_list_by_proxy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "list", "--proxy", "apache", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["scenarios"]
    assert len(rows) >= 6 and all(row["proxy"] == "apache" for row in rows)


def test_lab_run_unknown_scenario_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "run", "no-such-scenario"]) == 2
    assert "unknown scenario" in capsys.readouterr().err


def test_lab_without_subcommand_is_a_usage_error() -> None:
    assert main(["lab"]) == 2


@pytest.mark.real
@pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed")
def test_lab_run_diagnoses_the_live_stack_as_json(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    import json

    out = tmp_path / "r.json"
    code = main(["lab", "run", "buffer-too-small", "--format", "json", "-o", str(out)])
    report = json.loads(out.read_text())
    assert report["findings"][0]["cause"] == "buffer-too-small"
    assert code == 0
    assert "upstream sent too big header" in json.dumps(report)


def test_lab_list_all_includes_recording_only_recipes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "list", "--all"]) == 0
    out = capsys.readouterr().out
    assert "send-timeout" in out and "(recording only)" in out


@pytest.mark.real
@pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed")
def test_lab_check_reports_each_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["lab", "check", "dns-unresolvable", "fd-limit", "--format", "json"])
    rows = json.loads(capsys.readouterr().out)["results"]
    assert [row["scenario"] for row in rows] == ["dns-unresolvable", "fd-limit"]
    assert all(row["result"] == "ok" for row in rows), rows
    assert code == 0


def test_lab_matrix_help_names_every_backend_kind_and_traffic_shape(
        capsys: pytest.CaptureFixture[str]) -> None:
    """The help of ``--backend`` and ``--traffic`` lists what the matrix has: the app servers
    (gunicorn, uvicorn, uWSGI, Node) had been left out of ``--backend``'s, which a user reads to
    narrow a run."""
    from why502.lab import matrix

    with pytest.raises(SystemExit):
        main(["lab", "matrix", "--help"])
    out = capsys.readouterr().out
    text = " ".join(out[out.index("options:"):].split())
    backend_help = text[text.index("--backend KIND"):text.index("--traffic SHAPE")]
    for kind in matrix.BACKENDS:
        assert kind in backend_help, kind
    traffic_help = text[text.index("--traffic SHAPE"):text.index("--noise NOISE")]
    for shape in (*matrix.TRAFFIC, *matrix.FAULT_TRAFFIC, *matrix.CLIENT_TRAFFIC):
        assert shape in traffic_help, shape
