"""ipdma.data (under construction)."""
