"""Where the repository and its test fixtures are, for tests in any sub-package."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT_DIR = Path(__file__).resolve().parents[2]
FIXTURES_DIR = ROOT_DIR / "tests" / "fixtures"
MATRIX_CELLS_DIR = FIXTURES_DIR / "matrix-cells"


def matrix_cell(name: str, tmp_path: Path) -> Path:
    """A copy of the recorded matrix cell ``tests/fixtures/matrix-cells/NAME`` under ``tmp_path``,
    its ``@ROOT@`` (the lab's temporary directory when it was recorded) replaced by the copy's
    path, so the config's paths point at the copy's files."""
    work = tmp_path / "cell"
    shutil.copytree(MATRIX_CELLS_DIR / name, work)
    for path in work.iterdir():
        path.write_text(path.read_text().replace("@ROOT@", str(work)))
    return work
