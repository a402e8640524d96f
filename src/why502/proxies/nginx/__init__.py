"""nginx as a proxy of why502: its definition (``proxy.PROXY``); its config reader is
``why502.proxies.nginx.config`` (crossplane), wrapped here by :mod:`why502.proxies.nginx.proxy`."""
