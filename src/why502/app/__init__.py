"""why502.app layer (see DESIGN.md)."""
