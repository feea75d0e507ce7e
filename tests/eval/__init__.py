"""`make eval`: accuracy of every measured behaviour over a grid of generated recordings and real speech."""
