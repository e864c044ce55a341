"""HTTP route modules: one per service, plus the node's own admin routes."""
