"""Frames: decodes stored media into bounded frame chunks and audio segments."""
