"""The fault matrix's shape: generated cells, their declarations, the stratified sample.

These need no proxy; the live cells run in ``tests/lab/test_matrix_live_*.py``.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from why502.catalog import load_catalog
from why502.lab import matrix


def test_cells_are_the_product_of_the_dimensions_filtered_by_each_fault() -> None:
    cells = matrix.cells()
    expected = sum(len(f.proxies) * len(matrix.BACKENDS) * len(f.traffic) * len(matrix.NOISE)
                   for f in matrix.FAULTS)
    assert len(cells) == expected and len({c.name for c in cells}) == len(cells)
    # every proxy of the lab appears, and more than one fault runs on each
    per_proxy = Counter(c.proxy for c in cells)
    assert set(per_proxy) == set(matrix.PROXIES)
    assert all(len({c.fault.name for c in cells if c.proxy == p}) >= 4 for p in matrix.PROXIES)


def test_every_fault_names_a_catalog_cause_and_a_proof_that_compiles() -> None:
    causes = {e.id for e in load_catalog().of_kind("cause")}
    for fault in matrix.FAULTS:
        assert fault.cause in causes, fault.name
        assert fault.proxies, fault.name
        for proxy, proof in fault.proof.items():
            assert proxy in matrix.PROXIES
            re.compile(proof)
        assert set(fault.traffic) <= set(matrix.TRAFFIC)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_sample_covers_every_proxy_and_fault_pair_first(seed: int) -> None:
    picked = matrix.sample(40, seed)
    assert len(picked) == 40 and len({c.name for c in picked}) == 40
    pairs = {(c.proxy, c.fault.name) for c in matrix.cells()}
    assert pairs <= {(c.proxy, c.fault.name) for c in picked}


def test_the_sample_is_the_seeds() -> None:
    assert [c.name for c in matrix.sample(40, 7)] == [c.name for c in matrix.sample(40, 7)]
    assert [c.name for c in matrix.sample(40, 7)] != [c.name for c in matrix.sample(40, 8)]


def test_the_table_counts_right_reproduced_and_run() -> None:
    base = dict(proxy="nginx", fault="slow", backend="tcp4", traffic="steady", noise="quiet",
                expected="backend-too-slow")
    results = [
        matrix.CellResult(cell="a", reproduced=True, got="backend-too-slow", **base),
        matrix.CellResult(cell="b", reproduced=True, got="backend-crashed", **base),
        matrix.CellResult(cell="c", reproduced=False, error="the fault did not show", **base),
        matrix.CellResult(cell="d", reproduced=True, got="backend-too-slow",
                          violations=["clients got proxy-made 5xx, diagnose said healthy / exit 0"], **base),
    ]
    table = matrix.MatrixTable(results)
    assert table.rows("proxy") == [("nginx", 1, 3, 4)]
    text = table.markdown()
    assert "**1/3 reproduced cells right** (4 run; 1 did not reproduce" in text
    assert "1 reported healthy under proxy-made 5xx" in text
    assert "| b | backend-too-slow | backend-crashed | wrong cause ranked first |" in text


def test_lab_matrix_selects_cells_by_fault_proxy_and_name(capsys: pytest.CaptureFixture[str]) -> None:
    """``--fault``/``--proxy``/``--cell`` (repeatable) pick the cells a rule change touches, so
    their score can be taken before and after without the whole matrix."""
    from why502.cli.main import main

    assert main(["lab", "matrix", "--list", "--fault", "backend-5xx", "--fault", "crash",
                 "--proxy", "haproxy", "--proxy", "apache"]) == 0
    names = [ln.split()[0] for ln in capsys.readouterr().out.splitlines()]
    want = [c.name for c in matrix.cells()
            if c.fault.name in ("backend-5xx", "crash") and c.proxy in ("haproxy", "apache")]
    assert names == want and len(names) == 40
    assert main(["lab", "matrix", "--list", "--cell", "crash-apache-tcp6-post-quiet"]) == 0
    assert capsys.readouterr().out.split()[0] == "crash-apache-tcp6-post-quiet"
    assert main(["lab", "matrix", "--list", "--fault", "no-such-fault"]) == 2
    assert "no fault no-such-fault" in capsys.readouterr().err
