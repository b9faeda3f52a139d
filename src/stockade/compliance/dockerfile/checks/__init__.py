"""Dockerfile checks, one module per theme; :mod:`..registry` lists them in id order."""
