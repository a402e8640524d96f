"""A log whose first bytes look like a compressed stream to polars (``x^``, ``x\\x01``, zstd's
magic: ``textutil.polars_sniffs``) is read as the text it is.

polars' readers decompress an input that starts with gzip's, zlib's or zstd's magic bytes,
from a file or from bytes alike; on a text log that failed "corrupt deflate stream": an
internal error (exit 4) for ``classify`` and ``stats``, the whole log refused by ``diagnose``.
Found by ``tests/cli/test_qa_fuzz.py`` (a line ``x\\x010``).  Each command must read such a log
as it reads the same log with that first line made plain -- with the native passes and without
(``WHY502_NATIVE=0``: polars' readers on the whole file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import RunMain
from tests.support.paths import FIXTURES_DIR

MAGICS = [b"x^", b"x\x01", b"x\x9c", b"x\xda", b"(\xb5/\xfd"]
LOGS = {
    "nginx-error": (FIXTURES_DIR / "recorded" / "backend-down-tcp" / "error.log", "--error-log"),
    "nginx-access": (FIXTURES_DIR / "recorded" / "backend-5xx-combined-log" / "access.log", "--access-log"),
    "caddy": (FIXTURES_DIR / "cloud" / "recorded" / "caddy-2.6.2-debian" / "caddy-access.log",
              "--access-log"),
}


def _with_first(tmp_path: Path, name: str, first: bytes) -> Path:
    log = tmp_path / f"{name}-{first.hex()}.log"
    log.write_bytes(first + b" junk line\n" + LOGS[name][0].read_bytes())
    return log


def _answers(run_main: RunMain, log: Path, flag: str) -> dict[str, object]:
    out: dict[str, object] = {}
    commands = [["classify", str(log), "--format", "json"],
                ["diagnose", "--offline", "--format", "json", flag, str(log)]]
    if flag == "--access-log":
        commands.append(["stats", str(log), "--format", "json", "--no-progress"])
    for command in commands:
        code, text, err = run_main(*command)
        assert code in (0, 1) and "internal error" not in err and "cannot read" not in err, (command, err)
        report = json.loads(text)
        if command[0] == "diagnose":
            report = {"causes": [f["cause"] for f in report["findings"]]}
        elif command[0] == "stats":
            report = {k: report.get(k) for k in ("requests", "statuses", "status_codes", "lines")}
        else:
            report = {k: report.get(k) for k in ("symptoms", "failures", "recognised", "by_code")}
        out[command[0]] = report
    return out


@pytest.mark.parametrize("native", ["1", "0"])
@pytest.mark.parametrize("name", sorted(LOGS))
def test_a_first_line_like_a_zlib_header_is_text(run_main: RunMain, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch, name: str,
                                                 native: str) -> None:
    monkeypatch.setenv("WHY502_NATIVE", native)
    flag = LOGS[name][1]
    plain = _answers(run_main, _with_first(tmp_path, name, b"y_"), flag)
    for magic in MAGICS:
        assert _answers(run_main, _with_first(tmp_path, name, magic), flag) == plain, magic
