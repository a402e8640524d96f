"""Every ``WHY502_*`` environment variable why502 reads, in one place (issue 31, item 7: the man page
documented 1 of them).

``cli.main`` prints them in ``why502 --help``'s epilog and ``why502 completion man`` in an
ENVIRONMENT section; ``tests/cli/test_envvars.py`` finds every ``WHY502_`` name in ``src/`` and
fails when one is missing here, so a new variable cannot stay undocumented.  The variables a
proxy reads (the lab's binary of it: ``WHY502_<PROGRAM>``) are declared by the proxy
(``Vocabulary.environment``) and listed from the registry, which imports nothing heavy
(``why502 --help`` stays fast).
"""

from __future__ import annotations

from why502.proxies import ENGINE, PROXIES


def _declared() -> dict[str, str]:
    """The variables the proxies declare, in the registry's order."""
    return {name: text for p in PROXIES.values() for name, text in p.vocabulary.environment}


ENVIRONMENT: dict[str, str] = {
    "WHY502_DEBUG": "set (to anything): an internal error prints its Python traceback",
    # the C passes: the engine proxy's scanner (parsers.errorlog_native, its access columns) and
    # the edge logs' (parsers.lblogs: _albscan, _jsonscan), a proxy's own log's (Hooks.native_log_reader)
    "WHY502_NATIVE": f"0: no native pass (the {ENGINE} scanner, the edge logs' and proxies' log passes): "
                     "the polars readers do everything",
    "WHY502_MAX_CONFIG_BYTES": "the largest proxy config read, includes together (default 4M; "
                               "bytes or K/M/G)",
    "WHY502_MAX_INFLATED_BYTES": "the most read out of one .gz log (default 2G; bytes or K/M/G)",
    "WHY502_READ_AHEAD": "0: read several .gz logs (an ALB folder) one after the other, none inflated "
                         "ahead on a thread; a size (bytes or K/M/G) sets what may be held ahead "
                         "(default 2 batches: 4M for ALB)",
    "WHY502_STREAM_MAX_BYTES": "the most read from a pipe (default 64G) or a device (64M) given as a "
                               "file (bytes)",
    "WHY502_STREAM_IDLE_SECONDS": "a pipe or device quiet this long is at its end (default 10 seconds)",
    "WHY502_STREAM_TOTAL_SECONDS": "the longest a pipe (default 3600 seconds) or a device (60) is read",
    "WHY502_PROC_PIDS": "a comma list of PIDs: look only at these proxy masters (and their children)",
    **_declared(),
    "WHY502_PHP_FPM": "lab: the PHP-FPM binary to run (default: /usr/sbin/php-fpm*, then PATH)",
}


def epilog(width: int = 80) -> str:
    """The ``--help`` epilog: each variable on its line, what it does wrapped under it (a help
    text fits 80 columns)."""
    import textwrap

    return "environment:\n" + "\n".join(
        f"  {name}\n" + textwrap.fill(text, width - 1, initial_indent=" " * 6, subsequent_indent=" " * 6)
        for name, text in ENVIRONMENT.items())


def man_section() -> str:
    """The man page's ENVIRONMENT section body (roff)."""
    return "".join(f".TP\n\\fB{name}\\fR\n{text.replace('-', chr(92) + '-')}\n"
                   for name, text in ENVIRONMENT.items())
