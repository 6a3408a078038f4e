"""ipdma.trees (under construction)."""
