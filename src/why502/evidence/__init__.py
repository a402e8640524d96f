"""why502.evidence layer (see DESIGN.md)."""
