"""The catalog data a proxy's folder carries (``why502/proxies/<name>/<file>.toml``).

A proxy's knowledge that is data -- its lint rules' texts, its classify rules -- lives in its
folder, so adding a proxy is its folder (issue 23).  The catalog sits below the proxy registry in
the layer order: it reads those files as package data, by path, and imports nothing of
``why502.proxies`` (the folder's name is the proxy's name, as ``proxies.FOLDERS`` says).
"""

from __future__ import annotations

from importlib import resources


def folder_files(filename: str) -> list[tuple[str, str]]:
    """``(folder name, text)`` of every ``proxies/<folder>/<filename>``, by folder name."""
    out: list[tuple[str, str]] = []
    folders = resources.files("why502").joinpath("proxies")
    for folder in sorted(folders.iterdir(), key=lambda f: f.name):
        own = folder.joinpath(filename)
        if folder.is_dir() and own.is_file():
            out.append((folder.name, own.read_text(encoding="utf-8")))
    return out
