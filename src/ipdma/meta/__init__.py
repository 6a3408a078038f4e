"""ipdma.meta (under construction)."""
