"""ipdma.simstudy (under construction)."""
