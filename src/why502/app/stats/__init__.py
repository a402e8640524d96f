"""Wiring for ``why502 stats``: inputs, format choice, config facts, error log -> ``AccessStats``.

The heavy lifting is pure (``evidence.stats``); this package decides *what* to read:

- ``inputs``: the files, a rotated set in time order (``access.log.2.gz`` < ``access.log.1`` <
  ``access.log``), each file once, files wholly outside ``--since``/``--until`` left out;
- ``formats``: the ``log_format`` of each rotated set: ``--log-format`` (a string or a name), else
  the format named by the ``access_log`` directive for that file in the nginx config
  (``--nginx-conf``), else the predefined format that matches the first lines best;
- the config's stats plug-in (``Hooks.stats``, ``proxies.<name>.stats``): nginx's configured read
  timeout of each upstream address and location and its locations (a ``facts.routes.RouteModel``);
  HAProxy's and Apache's access-log lines as the engine's columns (``read.read_frames``);
- ``errorlog``: the error log (``--error-log`` or the config's ``error_log``) for the per-request
  join;
- ``read``: the readers (polars' streaming scan for plain files, byte chunks for ``.gz``/stdin);
- ``run``: all of it in order (``run_stats``; ``compute_for_diagnose`` for ``why502 diagnose``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from why502.app.stats.run import StatsOptions, compute_for_diagnose, run_stats

__all__ = ["StatsOptions", "compute_for_diagnose", "run_stats"]


def __getattr__(name: str) -> Any:
    """``run``'s names on first use (PEP 562): ``why502 classify`` imports ``stats.lb`` to sniff
    a load balancer's log, and importing ``run`` with it (nginx config parsers, evidence
    accumulators) was ~0.1 s of its start-up."""
    if name in __all__:
        from why502.app.stats import run

        return getattr(run, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
