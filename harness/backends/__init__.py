"""Cluster backends: local processes, docker containers, ssh hosts; one interface (base.py)."""
