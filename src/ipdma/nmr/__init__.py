"""ipdma.nmr (under construction)."""
