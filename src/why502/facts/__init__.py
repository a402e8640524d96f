"""Plain results of reading the world: what a probe, the socket table, a PHP-FPM config, the
kernel log or systemd said, as frozen typed data with no I/O.

Why a layer of its own: ``sources`` read the world (sockets, ``/proc``, commands) and
``parsers`` turn text into records, but ``evidence`` and ``analyzers`` must not import
``sources`` (import-linter, "parsers are pure").  When the result types lived next to the code
that produced them, the pure layers took them duck-typed (``getattr``) and copied them field by
field into look-alike records.  Here they sit below ``parsers`` and above ``findings``, so every
layer uses the same types: ``sources.probes.probe`` returns a ``ProbeResult`` and the analyzers
read that same ``ProbeResult``.

Nothing here reads a file, opens a socket or runs a command.
"""
