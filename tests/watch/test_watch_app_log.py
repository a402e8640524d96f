"""``watch --app-log FILE``: an app server's own log is followed and handed to the incident's
diagnosis as ``diagnose --app-log`` (not ``--fpm-log``), so a gunicorn ``WORKER TIMEOUT`` decides
the cause in watch as it does in diagnose (issue 25 item 4: the same window, the same cause;
the matrix cells ``app-timeout-*-gunicorn-*`` failed on it)."""

from __future__ import annotations

from pathlib import Path

from why502.app.watch.diagnosis import DiagnosisInputs, diagnose_argv
from why502.app.watch.engine import Watch, WatchOptions
from why502.app.watch.incidents import Rules


def test_an_app_log_window_goes_to_diagnose_as_app_log() -> None:
    argv = diagnose_argv(DiagnosisInputs(), [("error", "/w/error.log"), ("app", "/w/gunicorn.log")])
    assert argv[argv.index("/w/gunicorn.log") - 1] == "--app-log"
    assert "--fpm-log" not in argv


def test_watch_follows_a_named_app_log(tmp_path: Path) -> None:
    log = tmp_path / "gunicorn.log"
    log.write_text("[2026-11-24 10:00:00 +0000] [7] [CRITICAL] WORKER TIMEOUT (pid:8)\n")
    watch = Watch(WatchOptions(app_logs=[str(log)], from_start=True, offline=True, rules=Rules()),
                  lambda _e: None, lambda _d: None)
    kinds = [f.kind for f in watch.followed if getattr(f.follower, "path", None) == str(log)]
    assert kinds == ["app"]
