"""Admission control for Kubernetes: policies run on objects before the API server stores them."""
