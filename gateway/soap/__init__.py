"""SOAP 1.1 layer: envelopes in and out, and the spyne protocol that carries them."""
