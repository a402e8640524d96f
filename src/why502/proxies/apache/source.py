"""Apache's config as a run reads it: parsed once per run (``sources.once``)."""

from __future__ import annotations

from why502.proxies.apache.config import ApacheConfig, load_apache
from why502.sources.once import parsed


def apache_config(path: str) -> ApacheConfig:
    """``proxies.apache.config.load_apache`` of ``path``, once per run; ``OSError`` when it
    cannot be read."""
    return parsed(__name__, path, lambda: load_apache(path), files=lambda cfg: cfg.files)
