"""Endpoint paths of the served services, asked of the registry (never retyped in tests)."""

from gateway.services import service_path

HM_PATH = service_path("house-management")
DM_PATH = service_path("device-metering")
BILLS_PATH = service_path("bills")
PAYMENT_PATH = service_path("payment")
