"""Synthetic soundscapes with exact truth, the synthetic project and the demo built from them."""
