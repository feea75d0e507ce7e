"""Sightline: streaming analysis of recorded job interviews."""
