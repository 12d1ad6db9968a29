"""Handlers of the nsi-common service (general reference books)."""
