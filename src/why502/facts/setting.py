"""A configured value and where it was set (``file:line``), for findings and diffs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    """A value and where it comes from.

    ``is_default``: no line sets it and ``value`` is the program's compiled-in default (then
    ``file``/``line`` are ``None``).  Used for PHP-FPM settings (``sapi/fpm/fpm/fpm_conf.c``
    reads ``key = value`` lines) and for the nginx values the analyzers cite.
    """

    value: str
    file: str | None = None
    line: int | None = None
    is_default: bool = False

    @property
    def where(self) -> str:
        """``file:line`` (empty when the value comes from no line)."""
        return f"{self.file}:{self.line}" if self.file else ""
