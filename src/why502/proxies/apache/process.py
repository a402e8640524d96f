"""Apache httpd's master command line (``Hooks.master_args``, ``proxies.process``).

httpd keeps its argv: ``-f FILE`` (relative to ``-d SERVERROOT``), ``-d``, ``-D NAME``; without
``-f`` the compiled-in ``SERVER_CONFIG_FILE`` under ``HTTPD_ROOT`` (``apache2 -V``; Debian:
``/etc/apache2/apache2.conf``), with ``-d`` that file name under the given root.
"""

from __future__ import annotations

import os

from why502.proxies.process import MasterArgs, absolute, option


def master_args(argv: list[str], cwd: str | None, default_config: str) -> MasterArgs:
    """What an httpd master's argv says (the module docstring)."""
    root = option(argv, "-d")
    server_root = absolute(root[-1], cwd) if root else None
    conf = option(argv, "-f")
    config = (absolute(conf[-1], cwd, server_root) if conf
              else default_config if server_root is None
              else os.path.join(server_root, os.path.basename(default_config)))
    return MasterArgs(tuple(argv), config, server_root,
                      tuple(option(argv, "-D")))
