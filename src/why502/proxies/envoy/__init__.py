"""Envoy: a bootstrap (YAML/JSON) or an admin ``/config_dump`` as a full proxy (``proxy.py``),
its config model (``config``) and the edits of its YAML/JSON that become diffs (``edit``)."""
