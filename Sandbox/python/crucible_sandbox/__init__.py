"""Crucible sandbox runtime: the Python side of each confined worker."""
