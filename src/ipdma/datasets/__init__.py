"""ipdma.datasets (under construction)."""
