"""HAProxy's master command line (``Hooks.master_args``, ``proxies.process``).

HAProxy keeps its argv: every ``-f`` (a file or a directory, read in order: management.txt 3),
``-W``/``-Ws`` for master-worker mode, ``-p PIDFILE``, ``-sf``/``-st`` PIDs of a legacy reload.
"""

from __future__ import annotations

from why502.proxies.process import MasterArgs, absolute, option


def master_args(argv: list[str], cwd: str | None, default_config: str) -> MasterArgs:
    """What a HAProxy master's argv says (the module docstring)."""
    confs = [absolute(c, cwd) for c in option(argv, "-f")]
    pid_file = option(argv, "-p")
    return MasterArgs(tuple(argv),
                      confs[0] if confs else default_config,
                      master_worker=any(a in ("-W", "-Ws") for a in argv),
                      pid_file=absolute(pid_file[-1], cwd) if pid_file else None,
                      more_configs=tuple(confs[1:]))
