"""payment service handlers: payment notices of banks and suppliers, their cancellation."""
