"""The Kubernetes checks, one module per theme; :mod:`..registry` lists them in order."""
