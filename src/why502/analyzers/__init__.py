"""why502.analyzers layer (see DESIGN.md)."""
