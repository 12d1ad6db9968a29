"""Handlers of the device-metering service."""
