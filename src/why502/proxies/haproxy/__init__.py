"""HAProxy as a proxy of why502: its definition (``proxy.PROXY``), its ``haproxy.cfg`` reader
(``config``), its config edits (``edit``) and its httplog lines (``log``)."""
