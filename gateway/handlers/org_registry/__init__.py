"""Handlers of the org-registry-common service (organisation register)."""
