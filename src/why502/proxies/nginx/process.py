"""nginx's master command line (``Hooks.master_args``, ``proxies.process``).

nginx rewrites its title to ``nginx: master process /usr/sbin/nginx -c FILE -g ...``
(``ngx_setproctitle()``, src/os/unix/ngx_setproctitle.c): the original argv follows ``master
process``; its workers are ``nginx: worker process``.  A relative ``-c`` is relative to the
prefix (``-p``, else the compiled-in one), not to the working directory:
``ngx_process_options()`` in src/core/nginx.c calls ``ngx_conf_full_name(cycle, &conf_file, 0)``,
which joins ``cycle->prefix``; includes are then relative to the config's directory and logs
to the prefix.
"""

from __future__ import annotations

import os

from why502.proxies.process import MasterArgs, absolute, option

PREFIX = "/usr/share/nginx"  # nginx -V --prefix of Debian's and upstream's packages
TITLE = "nginx:"  # ngx_setproctitle's "nginx: master process ..." / "nginx: worker process"


def master_args(argv: list[str], cwd: str | None, default_config: str) -> MasterArgs:
    """What an nginx master's argv says (the module docstring)."""
    worker = bool(argv) and argv[0].startswith(f"{TITLE} worker")
    if argv and argv[0].startswith(TITLE):
        argv = " ".join(argv).split("master process", 1)[-1].split() or argv
    given = option(argv, "-p")
    prefix = absolute(given[-1], cwd).rstrip("/") or "/" if given else None
    conf = option(argv, "-c")
    config = (conf[-1] if os.path.isabs(conf[-1]) else os.path.join(prefix or PREFIX, conf[-1])
              ) if conf else default_config
    return MasterArgs(tuple(argv), config, prefix=prefix, worker=worker)
