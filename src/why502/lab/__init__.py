"""why502.lab layer (see DESIGN.md)."""
