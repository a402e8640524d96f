"""The whole matrix in pieces: ``lab matrix --shard K/N`` and ``bench/matrix.py --merge``.

No cell runs here: the partition is checked on the generated cell list, the merge on results
made up from it (issue 25: the whole matrix, run across machines or days).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from why502.lab import matrix

ROOT = Path(__file__).resolve().parents[2]


def _result(cell: matrix.Cell, got: str | None = None) -> dict[str, object]:
    res = matrix.CellResult(cell=cell.name, proxy=cell.proxy, fault=cell.fault.name,
                            backend=cell.backend, traffic=cell.traffic, noise=cell.noise,
                            expected=cell.fault.cause or matrix.HEALTHY, reproduced=True,
                            got=got if got is not None else cell.fault.cause, confidence=0.8,
                            exit_code=1)
    return res.to_dict()


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_matrix", ROOT / "bench" / "matrix.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("count", [1, 7, 16])
def test_every_cell_is_in_exactly_one_shard_and_the_same_one_every_time(count: int) -> None:
    every = matrix.cells()
    shards = [matrix.shard(every, k, count) for k in range(1, count + 1)]
    names = [c.name for piece in shards for c in piece]
    assert sorted(names) == sorted(c.name for c in every)  # each once, none left out
    assert shards == [matrix.shard(every, k, count) for k in range(1, count + 1)]
    # a filter cuts the same shards: the shard is the cell's, not its place in a list
    apache = [c for c in every if c.proxy == "apache"]
    assert matrix.shard(apache, count, count) == [c for c in shards[-1] if c.proxy == "apache"]
    # and no shard of 16 is empty or twice another's size (a hash spreads them)
    if count == 16:
        sizes = [len(piece) for piece in shards]
        assert min(sizes) > 0 and max(sizes) < 2 * min(sizes)


def test_a_shard_does_not_depend_on_the_seed_or_the_process() -> None:
    out = subprocess.run([sys.executable, "-c",
                          "from why502.lab import matrix;"
                          "print(','.join(c.name for c in matrix.shard(matrix.cells(), 5, 16)))"],
                         capture_output=True, text=True, check=True, env={"PYTHONHASHSEED": "123",
                                                                          "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == ",".join(c.name for c in matrix.shard(matrix.cells(), 5, 16))


@pytest.mark.parametrize("text", ["0/4", "5/4", "3", "a/b", "1/0", "-1/4"])
def test_a_bad_shard_is_a_usage_error(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    from why502.cli.main import main

    assert main(["lab", "matrix", f"--shard={text}", "--list"]) == 2
    err = capsys.readouterr().err
    assert "--shard" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_shards_merge_into_the_whole_matrix_only_when_every_cell_is_there_once(tmp_path: Path) -> None:
    every = matrix.cells()[:40]
    docs = [{"seed": 1, "shard": f"{k}/3", "cells": [_result(c) for c in matrix.shard(every, k, 3)]}
            for k in (1, 2, 3)]
    whole = matrix.merge(docs, every)
    assert whole.whole and [r.cell for r in whole.results] == [c.name for c in every]
    assert "the whole matrix" in whole.summary()
    partial = matrix.merge(docs[:2], every)
    assert not partial.whole and len(partial.missing) == len(docs[2]["cells"])  # type: ignore[arg-type]
    assert "partial" in partial.summary()
    doubled = matrix.merge([*docs, docs[0]], every)
    assert not doubled.whole and len(doubled.duplicated) == len(docs[0]["cells"])  # type: ignore[arg-type]
    assert len(doubled.results) == len(every)  # the second copy is not counted
    stale = {"seed": 1, "cells": [{**_result(every[0]), "cell": "gone-nginx-tcp4-steady-quiet"}]}
    assert matrix.merge([*docs, stale], every).unknown == ["gone-nginx-tcp4-steady-quiet"]
    with pytest.raises(ValueError, match="different counts"):
        matrix.merge([docs[0], {**docs[1], "shard": "2/4"}], every)
    with pytest.raises(ValueError, match="not a `lab matrix` result"):
        matrix.merge([{"cells": [{"cell": "x", "nonsense": 1}]}], every)


def test_bench_merges_shard_files_into_one_table_with_its_calibration(tmp_path: Path) -> None:
    every = matrix.cells()
    paths = []
    for k in (1, 2):
        rows = [_result(c, got="backend-crashed" if i == 0 else None)
                for i, c in enumerate(matrix.shard(every, k, 16))]
        path = tmp_path / f"shard-{k}-of-16.json"
        path.write_text(json.dumps({"seed": 1, "shard": f"{k}/16", "matrix_cells": len(every),
                                    "cells": rows}))
        paths.append(path)
    text, whole = _bench().merged_table(paths)
    assert not whole
    ran = len(matrix.shard(every, 1, 16)) + len(matrix.shard(every, 2, 16))
    assert f"partial: {ran} of {len(every)}" in text
    assert "shards: 1/16, 2/16" in text
    assert "| proxy | right | reproduced | run |" in text and "calibration error" in text
    assert text.count("wrong cause ranked first") == 2 - sum(
        matrix.shard(every, k, 16)[0].fault.cause == "backend-crashed" for k in (1, 2))
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    with pytest.raises(ValueError, match=r"bad\.json"):
        _bench().merged_table([bad])


def test_shards_run_on_a_matrix_of_another_size_are_never_the_whole_matrix() -> None:
    """A shard says how many cells the matrix had when it ran (``matrix_cells``).  Shards of an
    older matrix (stop 43's 16 shards of 960 cells) joined with a run of the cells added since
    (stop 45's 110) hold every cell of today's matrix once by name, but they are not one matrix
    run: the table says partial and names the stale shards."""
    every = matrix.cells()[:40]
    old, new = every[:30], every[30:]
    docs = [{"seed": 1, "shard": f"{k}/2", "matrix_cells": len(old),
             "cells": [_result(c) for c in matrix.shard(old, k, 2)]} for k in (1, 2)]
    added = {"seed": 42, "cells": [_result(c) for c in new]}  # a --fault run: no shard
    joined = matrix.merge([*docs, added], every)
    assert not joined.missing and not joined.duplicated and not joined.unknown
    assert not joined.whole and joined.stale == ["1/2 (30 cells)", "2/2 (30 cells)"]
    assert "2 shards run on a matrix of another size" in joined.summary()
    assert "(2 shards and 1 other run;" in joined.summary()
    assert "today 40 cells" in joined.summary() and "partial" in joined.summary()
    fresh = [{**d, "matrix_cells": len(every)} for d in docs]
    assert matrix.merge([*fresh, added], every).whole
