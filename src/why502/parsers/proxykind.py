"""Which proxy a config file is for, from its content (``--config FILE``; ``--proxy`` forces).

Each grammar has marks no other one has: nginx blocks in braces (``http {``, ``server {``,
``location``), an ``nginx -T`` dump's ``# configuration file`` headers; Apache httpd's
``<VirtualHost>``/``<Directory>`` tags and directives in CamelCase (``ServerRoot``,
``LoadModule``, ``ProxyPass``, ``IncludeOptional``), or what ``apachectl -S`` / ``-D
DUMP_INCLUDES`` print ("VirtualHost configuration:", "Included configuration files:"); HAProxy's
``frontend``/``backend``/ ``listen``/``defaults`` sections with no braces.
"""

from __future__ import annotations

import re

from why502.errors import InputError
from why502.parsers.apache_dump import looks_like_dump
from why502.parsers.configread import NotAConfigFile, read_head
from why502.parsers.haproxy import looks_like_haproxy

PROXIES = ("nginx", "apache", "haproxy")

_APACHE = re.compile(r"(?mi)^\s*(?:<(?:VirtualHost|Directory|Location|Proxy|IfModule)\b|"
                     r"(?:ServerRoot|LoadModule|ProxyPass|ProxyPassMatch|IncludeOptional|"
                     r"DocumentRoot|ErrorLog|CustomLog|LogFormat|BalancerMember|Listen)\s)")
_NGINX = re.compile(r"(?m)^\s*(?:(?:http|events|server|upstream|location|stream)\b[^;#\n]*\{|"
                    r"# configuration file |worker_processes\s|(?:proxy|fastcgi)_pass\s)")


def detect_kind(text: str) -> str | None:
    """``nginx``, ``apache`` or ``haproxy`` for a config's text, or None when unsure."""
    if looks_like_haproxy(text):
        return "haproxy"
    if looks_like_dump(text):  # apachectl -S / apache2 -t -D DUMP_INCLUDES output
        return "apache"
    nginx = len(_NGINX.findall(text))
    apache = len(_APACHE.findall(text))
    if nginx > apache:
        return "nginx"
    if apache:
        return "apache"
    return None


def kind_of_file(path: str) -> str:
    """The proxy a ``--config`` file is for (its first MiB read), or a one-line ``InputError``."""
    try:
        head = read_head(path, 1 << 20)
    except NotAConfigFile as err:  # a FIFO is read once, by nginx's reader only (sources.nginx)
        hint = "; an nginx config or nginx -T dump is read from a FIFO with --proxy nginx" \
            if "FIFO" in str(err.strerror) else ""
        raise InputError(f"cannot read {path} (--config): {err.strerror}{hint}") from None
    except OSError as err:
        raise InputError(f"cannot read {path} (--config): {err.strerror or err}") from None
    kind = detect_kind(head)
    if kind is None:
        raise InputError(f"{path}: not a config of nginx, Apache or HAProxy that why502 "
                         "recognises (pass --proxy nginx|apache|haproxy to say which)")
    return kind
