"""``classify`` on an error log and ``explain`` on a line pasted from it, typed as the person on
call types them in a real 80x24 ``tmux`` pane (issue 31): every line the programs wrote fits the
80 columns (the pane's wrapped lines joined back, so an overlong one is seen whole), and no time
is split over lines -- ``classify`` used to print "2026-11-" / "21" / "21:13:58"."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pytest
from rich.cells import cell_len

from tests.cli.test_width import _unbroken_times
from tests.support.screen import WIDTH, have_tmux, pane

pytestmark = [pytest.mark.real, pytest.mark.skipif(not have_tmux(), reason="needs tmux")]

CASE = Path(__file__).resolve().parents[1] / "fixtures" / "recorded" / "all-upstreams-down"


def _output(history: str, command: str) -> list[str]:
    """The lines the command wrote (after the typed command, before the next prompt)."""
    lines = history.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"$ {command[:40]}"))
    out = lines[start + 1:]
    while out and out[-1].strip() in ("", "$"):
        out.pop()
    return out


def test_classify_then_explain_a_pasted_line_at_80x24(tmp_path: Path) -> None:
    log = tmp_path / "error.log"
    shutil.copy(CASE / "error.log", log)
    pasted = next(line for line in log.read_text().splitlines() if "connect() failed" in line)
    with pane(tmp_path) as term:
        code = term.run("why502 classify error.log")
        classify = _output(term.history(), "why502 classify error.log")
        explain_cmd = f"why502 explain {shlex.quote(pasted)}"
        explained_code = term.run(explain_cmd)
        explained = _output(term.history(), explain_cmd)
    assert code == 1, "\n".join(classify)  # failures found
    assert all(cell_len(line) <= WIDTH for line in classify), "\n".join(classify)
    _unbroken_times("\n".join(classify))
    table = [line for line in classify if line.lstrip().startswith("connection-refused")]
    assert table and "11-21 21:13:58" in table[0], "\n".join(classify)  # one piece, on its row
    assert explained_code == 0, "\n".join(explained)
    assert all(cell_len(line) <= WIDTH for line in explained), "\n".join(explained)
    _unbroken_times("\n".join(explained))
    text = " ".join(explained)
    assert "connection-refused" in text or "Connection refused" in text, text[:2000]
    assert "docs/proxies/nginx.md" in text, text[:3000]
