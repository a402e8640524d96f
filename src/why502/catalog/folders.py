"""The catalog data a proxy's folder carries (``why502/proxies/<name>/<file>.toml``).

A proxy's knowledge that is data -- its lint rules' texts, its classify rules -- lives in its
folder, so adding a proxy is its folder (issue 23).  The catalog sits below the proxy registry in
the layer order: it reads those files as package data, by path, and imports nothing of
``why502.proxies`` (the folder's name is the proxy's name, as ``proxies.FOLDERS`` says).
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING, Any

from why502.catalog import tomldata

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable


def _folder_paths(filename: str) -> list[tuple[str, Traversable]]:
    folders = resources.files("why502").joinpath("proxies")
    return [(folder.name, folder.joinpath(filename))
            for folder in sorted(folders.iterdir(), key=lambda f: f.name)
            if folder.is_dir() and folder.joinpath(filename).is_file()]


def folder_tables(filename: str) -> list[tuple[str, dict[str, Any]]]:
    """``(folder name, parsed TOML)`` of every ``proxies/<folder>/<filename>``, by folder name
    (``catalog.tomldata``: from the parsed cache when the text is the same)."""
    return [(name, tomldata.table(own)) for name, own in _folder_paths(filename)]
