"""bills service handlers: payment documents, their export, notices export, acknowledgment."""
