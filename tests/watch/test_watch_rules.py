"""The alerting rules `why502 watch --print-rules` ships, checked and unit-tested by promtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.clirun import why502
from tests.support.monitoring import need
from tests.support.paths import FIXTURES_DIR

pytestmark = pytest.mark.real


def test_rules_pass_promtool_check_and_unit_tests(tmp_path: Path) -> None:
    promtool = need("promtool")
    printed = why502("watch", "--print-rules")
    assert printed.returncode == 0, printed.stderr
    (tmp_path / "rules.yml").write_text(printed.stdout)
    shutil.copy(FIXTURES_DIR / "watch" / "rules_test.yml", tmp_path / "rules_test.yml")
    check = subprocess.run([promtool, "check", "rules", "rules.yml"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=60, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "4 rules found" in check.stdout
    test = subprocess.run([promtool, "test", "rules", "rules_test.yml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)
    assert test.returncode == 0, test.stdout + test.stderr
