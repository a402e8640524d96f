"""Where a lab stack keeps its files: one temp dir holds the configs, logs, sockets and scripts.

Every program the stack runs writes under this root only (pid files, logs, temp paths), so a
stack needs no privileges beyond what a scenario asks for and leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# the sub-directories a stack creates when it is entered
SUBDIRS = ("logs", "run", "www", "tmp", "php-fpm.d", "assets")


@dataclass
class StackPaths:
    """Where a stack keeps its files (all inside ``root``)."""

    root: Path
    nginx_conf: Path
    error_log: Path
    access_log: Path
    fpm_conf: Path
    fpm_pool_dir: Path
    fpm_log: Path
    www: Path
    run: Path

    @classmethod
    def under(cls, root: Path) -> StackPaths:
        return cls(
            root=root,
            nginx_conf=root / "nginx.conf",
            error_log=root / "logs" / "error.log",
            access_log=root / "logs" / "access.log",
            fpm_conf=root / "php-fpm.conf",
            fpm_pool_dir=root / "php-fpm.d",
            fpm_log=root / "logs" / "php-fpm.log",
            www=root / "www",
            run=root / "run",
        )

    @property
    def assets(self) -> Path:
        """Copied backend scripts and generated certificates."""
        return self.root / "assets"

    @property
    def supervisor_log(self) -> Path:
        return self.root / "logs" / "supervisord.log"
