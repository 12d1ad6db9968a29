"""Operation handlers: domain behaviour of each operation, run by the worker."""
