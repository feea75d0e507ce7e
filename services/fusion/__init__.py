"""Fusion: joins an interview's vision and speech results into a candidate profile."""
