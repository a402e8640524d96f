"""PHP-FPM pools for lint: the same ``why502.facts.fpm.FpmPool`` diagnose uses.

Parsing is ``why502.parsers.fpm_config``; the numbers lint compares (``listen_mode_bits``,
``memory_limit_bytes``, ``max_execution_time``, ``line_of``) are properties of the pool, with
FPM's and PHP's defaults (``why502.facts.fpm``).
"""

from __future__ import annotations

from why502.facts.fpm import FpmPool
from why502.parsers.fpm_config import build_config, parse_fpm_text


def parse_pools(text: str, file: str) -> list[FpmPool]:
    """Every pool section of one FPM config file's text (includes are not followed)."""
    return build_config(parse_fpm_text(text, file)).pools
