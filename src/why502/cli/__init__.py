"""The thin command line: argument parsing and exit codes; the work happens in ``why502.app``."""
