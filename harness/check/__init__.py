"""Checkers: linearizability (WGL with P-compositionality) and total-queue."""
