"""Pieces several pages use: a function when stateless, a class when it keeps state."""
