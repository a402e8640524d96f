"""why502.reporters layer (see DESIGN.md)."""
