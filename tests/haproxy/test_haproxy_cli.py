"""``--config``/``--proxy`` as a user meets them: detection, forcing, and one-line errors."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import RunMain
from tests.support.paths import FIXTURES_DIR

HAP = FIXTURES_DIR / "recorded-proxies" / "haproxy"


def test_config_is_detected_as_haproxy(run_main: RunMain) -> None:
    code, out, _err = run_main("diagnose", "--offline", "--config", str(HAP / "sh-timeout.cfg"),
                               "--error-log", str(HAP / "sh-timeout.log"))
    assert code == 1
    assert "timeout server" in out and "HAProxy" in out and "haproxy -c -f" in out


def test_proxy_forces_the_kind(run_main: RunMain, tmp_path: Path) -> None:
    odd = tmp_path / "lb.conf"
    odd.write_text("# no section keyword at all\n")
    code, _out, err = run_main("diagnose", "--offline", "--config", str(odd))
    assert code == 3 and "--proxy nginx|apache|haproxy" in err and "Traceback" not in err
    code, _out, err = run_main("diagnose", "--offline", "--config", str(odd), "--proxy", "haproxy")
    assert code == 3 and "not a readable haproxy.cfg" in err


def test_config_and_its_alias_together_is_a_usage_error(run_main: RunMain) -> None:
    cfg = str(HAP / "sh-timeout.cfg")
    code, _out, err = run_main("diagnose", "--offline", "--config", cfg, "--nginx-conf", cfg)
    assert code == 2 and "alias" in err


def test_missing_config_is_one_line_exit_3(run_main: RunMain, tmp_path: Path) -> None:
    code, _out, err = run_main("diagnose", "--offline", "--config", str(tmp_path / "nope.cfg"))
    assert code == 3 and len(err.strip().splitlines()) == 1 and "--config" in err
