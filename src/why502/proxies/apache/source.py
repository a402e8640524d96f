"""Apache's config as a run reads it: parsed once per run (``sources.once``); the head of an
access log no config names, to guess its ``LogFormat`` from."""

from __future__ import annotations

from why502.errors import InputError
from why502.proxies.apache.config import ApacheConfig, load_apache
from why502.sources.byte_chunks import head_lines
from why502.sources.once import parsed


def apache_config(path: str) -> ApacheConfig:
    """``proxies.apache.config.load_apache`` of ``path``, once per run; ``OSError`` when it
    cannot be read."""
    return parsed(__name__, path, lambda: load_apache(path), files=lambda cfg: cfg.files)


def access_head(path: str, keep: bool = True) -> list[str]:
    """The first 200 non-blank lines of the access log ``path`` (``.gz`` read through), or none
    when it cannot be read (the reader of the whole file says why).  ``keep``: the file is read
    whole next in this run, which takes the file opened here (``head_lines``); not for a file
    ``watch`` only follows."""
    try:
        return head_lines(path, 200, keep=keep)
    except (OSError, InputError):
        return []
