"""Apache httpd (mod_proxy) as a proxy of why502: its definition (``proxy.PROXY``), its config
reader (``config``, ``dump`` for what ``apachectl -S`` / ``-D DUMP_INCLUDES`` print), its config
edits (``edit``) and its ``LogFormat`` access logs (``log``)."""
