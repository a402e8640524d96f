"""One log written several ways (framed, CRLF, ...) must give one document: the helper that runs
``why502 ARGV LOG`` on each way and collects the documents to compare."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tests.conftest import RunMain
from tests.support.reports import without_timing


def documents(run_main: RunMain, tmp_path: Path, ways: Mapping[str, bytes], *argv: str,
              normalize: Callable[[Any], Any] = without_timing) -> list[tuple[int, Any]]:
    """(exit code, JSON document) of ``why502 ARGV`` for each of ``ways`` (name -> the log's
    bytes), ``LOG`` in ``argv`` standing for the log: each written as ``access.log`` in a folder
    of its own, the folder's path replaced by ``DIR`` in the document, so only the log's bytes
    differ between the runs."""
    docs = []
    for name, data in ways.items():
        folder = tmp_path / name
        folder.mkdir(exist_ok=True)
        log = folder / "access.log"
        log.write_bytes(data)
        code, out, err = run_main(*[str(log) if a == "LOG" else a for a in argv])
        assert out.strip(), err
        docs.append((code, normalize(json.loads(out.replace(str(folder), "DIR")))))
    return docs
