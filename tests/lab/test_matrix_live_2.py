"""Part 3 of 4 of the suite's fault-matrix sample (tests/support/matrix_live.py): real proxies and
backends on loopback, each cell proved from the proxy's log, then `why502 diagnose` through the CLI."""

from __future__ import annotations

import pytest

from tests.support import matrix_live
from why502.lab import matrix

pytestmark = pytest.mark.real


@pytest.mark.parametrize("cell", matrix_live.part(2),
                         ids=lambda c: f"{c.name}-seed{matrix_live.SEED}")
def test_matrix_cell(cell: matrix.Cell) -> None:
    matrix_live.check(cell)
