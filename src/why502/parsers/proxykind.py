"""Which proxy a config file is for, from its content (``--config FILE``; ``--proxy`` forces).

Each grammar has marks no other one has: nginx blocks in braces (``http {``, ``server {``,
``location``), an ``nginx -T`` dump's ``# configuration file`` headers; Apache httpd's
``<VirtualHost>``/``<Directory>`` tags and directives in CamelCase (``ServerRoot``,
``LoadModule``, ``ProxyPass``, ``IncludeOptional``); HAProxy's ``frontend``/``backend``/
``listen``/``defaults`` sections with no braces.
"""

from __future__ import annotations

import re

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
    nginx = len(_NGINX.findall(text))
    apache = len(_APACHE.findall(text))
    if nginx > apache:
        return "nginx"
    if apache:
        return "apache"
    return None
