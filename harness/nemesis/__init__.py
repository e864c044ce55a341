"""Nemeses: faults injected into a running cluster through the Backend interface."""
