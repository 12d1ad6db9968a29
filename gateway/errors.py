"""One exception hierarchy; each class knows its GIS ZhKKh error code and HTTP status.

Mapping an error to a SOAP Fault is then a table lookup, never string parsing.
"""

from __future__ import annotations

from gateway.codes import Code


class GatewayError(Exception):
    """A refusal that is answered with a SOAP Fault carrying ``base:Fault``."""

    code: Code = Code.INTERNAL_ERROR
    http_status = 500
    #: Whether the refused packet is stored for ops (transport-level refusals may not be).
    record = True
    #: soap:Client (the sender must change the request) or soap:Server (our side failed).
    sender_fault = True

    def __init__(self, message: str, *, code: Code | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class MalformedXml(GatewayError):
    """The body is not well-formed XML, or uses forbidden constructs (DTD, entities)."""

    code = Code.MALFORMED_XML


class TooComplex(MalformedXml):
    """The document crosses a size limit (elements, depth, attributes, value length)."""

    #: a bomb is filed for ops with its first bytes only, not megabytes per refusal
    keep_bytes = 64 * 1024


class FormatError(GatewayError):
    """The packet is XML but not of the expected SOAP/GIS shape."""

    code = Code.FORMAT_ERROR


class SchemaInvalid(GatewayError):
    """The operation element does not validate against its XSD."""

    code = Code.FORMAT_ERROR


class HeaderInvalid(GatewayError):
    """The RequestHeader is missing or inconsistent."""

    code = Code.HEADER_INVALID


class UnsupportedOperation(GatewayError):
    """No operation of this service matches the SOAPAction / body element."""

    code = Code.UNSUPPORTED_OPERATION


class UnsupportedVersion(GatewayError):
    """The request element carries a format version the gateway does not accept."""

    code = Code.UNSUPPORTED_OPERATION


class PayloadTooLarge(GatewayError):
    code = Code.MALFORMED_XML
    http_status = 413
    record = False


class Unauthenticated(GatewayError):
    """Missing or wrong HTTP credentials."""

    code = Code.UNAUTHENTICATED
    http_status = 401


class Locked(GatewayError):
    """The sender is known but locked."""

    code = Code.UNAUTHENTICATED
    http_status = 403


class WrongOrganization(GatewayError):
    """The client certificate belongs to another organisation than the RequestHeader's."""

    code = Code.UNAUTHENTICATED
    http_status = 403


class UnknownOrganization(GatewayError):
    code = Code.UNKNOWN_ORGANIZATION


class NotAllowed(GatewayError):
    """The organisation's role may not call this operation."""

    code = Code.NOT_ALLOWED


class CertificateRefused(GatewayError):
    """The signer certificate is untrusted, expired or not bound to the sender."""

    code = Code.CERTIFICATE_REFUSED


class SignatureInvalid(GatewayError):
    """The XML signature is missing, malformed, wrapped or does not verify."""

    code = Code.SIGNATURE_INVALID


class DuplicateMessage(GatewayError):
    """The MessageGUID was already used by this sender for a different packet."""

    code = Code.HEADER_INVALID


class RequestNotFound(GatewayError):
    code = Code.REQUEST_NOT_FOUND
    record = False


class TemporarilyUnavailable(GatewayError):
    """A retryable condition (for example the database is unreachable)."""

    code = Code.TEMPORARILY_UNAVAILABLE
    # 500 like every SOAP Fault: clients (WCF, zeep) read the Fault only from a 500.
    record = False
    sender_fault = False


class LimitExceeded(TemporarilyUnavailable):
    """A per-organisation limit (packets per minute, queue, concurrent requests)."""

    # 503 + Retry-After: "retry later" to HTTP clients (WCF: ServerTooBusyException), and the
    # body is still the Fault with EXP002001 (zeep reads a Fault from any status).
    http_status = 503

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LoginThrottled(Unauthenticated):
    """Too many failed logins for a name or an address; the password is not even checked."""

    http_status = 429
    record = False

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InternalError(GatewayError):
    code = Code.INTERNAL_ERROR
    sender_fault = False
