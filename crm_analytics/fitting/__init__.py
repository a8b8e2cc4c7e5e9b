"""Layer 2: model likelihoods and the bridge to lifetimes (the cross-check backend).

The only place that imports lifetimes.
"""
