"""Whether a file is an ``apachectl -S`` / ``-D DUMP_INCLUDES`` dump (``Proxy.detect``), apart
from its reader.

Every run scores a config against every proxy (``proxies.detect_text``); this module holds
only what that needs, so a run on another proxy's config never imports the dump's reader (issue 28
item 1: start-up).
"""

from __future__ import annotations


def looks_like_dump(text: str) -> bool:
    """Output of ``apachectl -S`` or ``-D DUMP_INCLUDES`` (not a config: no directive grammar)."""
    head = text.lstrip()[:4096]
    return head.startswith(("VirtualHost configuration:", "Included configuration files:",
                            'ServerRoot: "'))
