"""The engine's native scanner is declared by its proxy and handed down by the registry
(``Hooks.native_scanner``, ``parsers.native``): ``parsers`` never names it (issue 23 item 2)."""

from __future__ import annotations

import importlib
from pathlib import Path

from why502 import proxies
from why502.app.classify import summarize_paths
from why502.parsers import errorlog_native, native
from why502.proxies import ENGINE, PROXIES

LINE = ('2026/03/01 12:00:00 [error] 7#7: *1 connect() failed (111: Connection refused) while '
        'connecting to upstream, client: 10.0.0.1, server: _, request: "GET / HTTP/1.1", '
        'upstream: "http://127.0.0.1:8080/", host: "x"\n')


def test_the_engines_proxy_declares_the_scanner_the_parsers_get() -> None:
    name = PROXIES[ENGINE].hooks.native_scanner
    assert name, "the engine's proxy declares its native scanner"
    try:
        built = importlib.import_module(name)
    except ImportError:
        built = None  # no C compiler at install time
    assert proxies.engine_scanner() is built and errorlog_native.native() is built


def test_without_the_build_classify_runs_on_polars_with_the_same_result(tmp_path: Path) -> None:
    """A missing build (no C compiler): the loader finds nothing, the polars engine reads the
    lines, and the summary is the same."""
    log = tmp_path / "error.log"
    log.write_text(LINE * 50)
    with_scanner = summarize_paths([str(log)]).to_dict()
    native.install(lambda: None)
    try:
        assert not errorlog_native.available()
        assert "not built" in errorlog_native.status()
        without = summarize_paths([str(log)]).to_dict()
    finally:
        native.install(proxies.engine_scanner)
    assert without == with_scanner
    assert without["recognised"] == 50 and without["symptoms"][0]["id"] == "connection-refused"
