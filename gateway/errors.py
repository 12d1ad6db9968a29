"""One exception hierarchy; each class knows its GIS ZhKKh error code and HTTP status.

Mapping an error to a SOAP Fault is then a table lookup, never string parsing.
"""

from __future__ import annotations


class GatewayError(Exception):
    """A refusal that is answered with a SOAP Fault carrying ``base:Fault``."""

    code = "EXP001000"
    http_status = 500
    #: Whether the refused packet is stored for ops (transport-level refusals may not be).
    record = True
    #: soap:Client (the sender must change the request) or soap:Server (our side failed).
    sender_fault = True

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class MalformedXml(GatewayError):
    """The body is not well-formed XML, or uses forbidden constructs (DTD, entities)."""

    code = "FMT001300"


class TooComplex(MalformedXml):
    """The document crosses a size limit (elements, depth, attributes, value length)."""

    #: a bomb is filed for ops with its first bytes only, not megabytes per refusal
    keep_bytes = 64 * 1024


class FormatError(GatewayError):
    """The packet is XML but not of the expected SOAP/GIS shape."""

    code = "FMT001301"


class SchemaInvalid(GatewayError):
    """The operation element does not validate against its XSD."""

    code = "FMT001301"


class HeaderInvalid(GatewayError):
    """The RequestHeader is missing or inconsistent."""

    code = "FMT001307"


class UnsupportedOperation(GatewayError):
    """No operation of this service matches the SOAPAction / body element."""

    code = "FMT001310"


class UnsupportedVersion(GatewayError):
    """The request element carries a format version the gateway does not accept."""

    code = "FMT001310"


class PayloadTooLarge(GatewayError):
    code = "FMT001300"
    http_status = 413
    record = False


class Unauthenticated(GatewayError):
    """Missing or wrong HTTP credentials."""

    code = "AUT011000"
    http_status = 401


class Locked(GatewayError):
    """The sender is known but locked."""

    code = "AUT011000"
    http_status = 403


class WrongOrganization(GatewayError):
    """The client certificate belongs to another organisation than the RequestHeader's."""

    code = "AUT011000"
    http_status = 403


class UnknownOrganization(GatewayError):
    code = "AUT011002"


class NotAllowed(GatewayError):
    """The organisation's role may not call this operation."""

    code = "AUT011003"


class CertificateRefused(GatewayError):
    """The signer certificate is untrusted, expired or not bound to the sender."""

    code = "AUT011004"


class SignatureInvalid(GatewayError):
    """The XML signature is missing, malformed, wrapped or does not verify."""

    code = "AUT011005"


class DuplicateMessage(GatewayError):
    """The MessageGUID was already used by this sender for a different packet."""

    code = "FMT001307"


class RequestNotFound(GatewayError):
    code = "INT002013"
    record = False


class TemporarilyUnavailable(GatewayError):
    """A retryable condition (for example the database is unreachable)."""

    code = "EXP002001"
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
    code = "EXP001000"
    sender_fault = False
