"""``why502 stats``' typed results (``findings.results.StatsReport``, ``LbStatsReport``).

``access_report`` wraps the engine's ``AccessStats``; ``proxied_report`` is stats on another
proxy's access log (HAProxy's httplog lines, Apache's ``LogFormat``), read by its stats plug-in
(``Hooks.stats``: ``proxied_input``) straight into the engine's columns, as the user should see
it: the proxy's own word in the notes (given to the engine, which writes them -- before,
``cli/cmd_stats.py`` rewrote the notes' text with ``str.replace``), the log format by its name,
and what the plug-in adds after (HAProxy: its backends as the upstreams' locations and its
runtime view).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from why502 import proxies
from why502.findings.results import LbStatsReport, StatsReport
from why502.proxies.base import resolve

if TYPE_CHECKING:
    from why502.app.stats.read import BlockReader, FrameReader
    from why502.evidence.stats.model import AccessStats


@dataclass
class ProxiedInput:
    """How a proxy's stats plug-in has the engine read its access log (``proxied_input``)."""

    frames: FrameReader  # a batch of its lines -> the engine's columns (app.stats.read.read_frames)
    log_format: str  # the engine's format whose variables the frames fill ("why502", ...)
    source: str  # what its log format is called in the report ("HAProxy httplog ...")
    blocks: BlockReader | None = None  # ... of a raw block, by its native pass (None: it has none)
    # upstream address -> (timeout seconds, where): its response timeout per server
    timeouts: dict[str, tuple[float, str]] | None = None
    notes: list[str] = field(default_factory=list)
    finish: Callable[[StatsReport], None] | None = None  # adds its own view to the report


def access_report(st: AccessStats) -> StatsReport:
    """The engine's statistics as the typed result."""
    return StatsReport.from_dict(st.to_dict())


def lb_report(data: dict[str, object]) -> LbStatsReport:
    """``app.stats.lb.lb_stats``' document as the typed result."""
    return LbStatsReport.from_dict(data)


def proxied_report(files: list[str], proxy: str, config: str | None, log_format: str | None,
                   error_logs: list[str] | None, since: datetime | None,
                   until: datetime | None) -> StatsReport:
    """Stats of ``proxy``'s access log ``files`` (its stats plug-in reads them); ``config`` its
    config."""
    from why502.app.stats import StatsOptions, run_stats

    inp: ProxiedInput = resolve(proxies.of(proxy).hooks.stats).proxied_input(  # type: ignore[attr-defined]
        list(files), config, log_format)
    opts = StatsOptions(paths=list(files), log_format=inp.log_format, error_logs=error_logs,
                        no_error_log=not error_logs, since=since, until=until, timeouts=inp.timeouts,
                        maker=proxies.of(proxy).vocabulary.stats_word, format_source=inp.source,
                        frames=inp.frames, blocks=inp.blocks)
    st, _ = run_stats(opts)
    report = access_report(st)
    report.proxy = proxy  # who "made by nginx" means: the proxy that wrote the log
    report.notes = [*report.notes, *inp.notes]
    if inp.finish is not None:
        inp.finish(report)
    report.files = list(files)
    report.log_format = inp.source
    return report
