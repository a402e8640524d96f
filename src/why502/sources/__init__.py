"""why502.sources layer (see DESIGN.md)."""
