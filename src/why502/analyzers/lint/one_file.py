"""The lint input of a proxy whose config is one file its rules read as a whole.

Kong's declarative config and Traefik's dynamic config are each one YAML/TOML file; their rules
fire on what a section lacks (a health check), so the input declares no directive names and hands
``suppress`` the file's own text.  What those inputs share lives here once; each proxy's plug-in
only names itself (``proxy``), as :class:`why502.analyzers.lint.Input` asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Generic, Protocol, TypeVar

from why502.analyzers.lint.common import file_lines


class OneFileConfig(Protocol):
    """A config read from one file: its path and its text."""

    @property
    def path(self) -> str: ...

    @property
    def text(self) -> str: ...


ConfigT = TypeVar("ConfigT", bound=OneFileConfig)


@dataclass(frozen=True)
class OneFileLintInput(Generic[ConfigT]):
    """A one-file config as its rules read it (a subclass sets ``proxy``)."""

    config: ConfigT
    proxy: ClassVar[str] = ""

    def directive_names(self) -> frozenset[str]:
        """The rules fire on an absent key: none declares keys."""
        return frozenset()

    def file_text(self, path: str) -> str | None:
        return self.config.text if path == self.config.path else None


def config_lines(config: OneFileConfig) -> dict[str, tuple[str, ...]]:
    """The one file's lines by its path, as the diff builders read them."""
    return file_lines({config.path: config.text})
