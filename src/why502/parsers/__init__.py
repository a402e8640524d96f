"""why502.parsers layer (see DESIGN.md)."""
