"""The run's kept log files (``sources.once``: ``keep``, ``kept``, ``take``) asked from several
threads at once: ``diagnose`` runs its passes together, and one file can be two of its inputs
(the same path as its error log and its access log).  Two takes of one kept file raised
``KeyError`` in a fresh-clone CI run (stop 52: ``test_diagnose_alike``'s ``empty.log``); one
taker must get the file and the other none (it opens its own), whatever the interleaving.
"""

from __future__ import annotations

import contextvars
import threading
from pathlib import Path

from why502.sources import once


def _in_threads(n: int, work: object) -> list[BaseException]:
    """``work(k)`` in ``n`` threads started together, each in this run's context (as the
    readers' workers run, ``contextvars.copy_context``); what they raised."""
    start = threading.Barrier(n)
    errors: list[BaseException] = []

    def run(k: int) -> None:
        start.wait()
        try:
            work(k)  # type: ignore[operator]
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=contextvars.copy_context().run, args=(run, k)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_concurrent_takes_hand_the_kept_file_to_one_taker(tmp_path: Path) -> None:
    log = tmp_path / "empty.log"
    log.write_text("")
    for _round in range(200):
        with once.run_inputs():
            assert once.keep(str(log)) is not None
            got: list[object] = []
            assert not _in_threads(4, lambda _k, got=got: got.append(once.take(str(log))))
            handed = [fh for fh in got if fh is not None]
            assert len(handed) == 1  # one taker; the others open their own
            handed[0].close()  # type: ignore[attr-defined]


def test_keep_and_take_at_once_never_fail(tmp_path: Path) -> None:
    """Sniffs (``keep``, ``kept``) and takes of one path interleaved in threads: no error, and
    the registry holds at most the one file at the end."""
    log = tmp_path / "both.log"
    log.write_text("a line\n")
    with once.run_inputs() as registry:

        def work(k: int) -> None:
            for _ in range(300):
                if k % 3 == 0:
                    once.keep(str(log))
                elif k % 3 == 1:
                    once.kept(str(log))
                else:
                    fh = once.take(str(log))
                    if fh is not None:
                        fh.close()

        assert not _in_threads(6, work)
        assert len(registry.files) <= 1
