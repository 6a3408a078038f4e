"""ipdma.ite (under construction)."""
