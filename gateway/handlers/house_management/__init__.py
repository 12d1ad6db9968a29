"""Handlers of the house-management service."""
