"""ipdma.prognosis (under construction)."""
