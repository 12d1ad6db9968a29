"""The request path, top to bottom (ARCHITECTURE.md steps 1–8).

    parse ► route ► header ► validate ► verify ► authorize ► persist ► ack

Every refusal is a GatewayError that becomes a SOAP Fault with base:Fault, and the refused
packet is stored for ops. Nothing is acknowledged before the packet and its queue job commit.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from lxml import etree
from sqlalchemy import Connection

from gateway import errors, limits
from gateway.authn import (
    check_credentials,
    check_not_locked,
    client_certificate_org,
    parse_basic,
    transport_org,
)
from gateway.caches import Snapshot
from gateway.errors import GatewayError
from gateway.formats import Bundle
from gateway.header import RequestHeader, check_date, read_request_header
from gateway.namespaces import BASE, qname
from gateway.ops import observe
from gateway.registry import Operation, Registry, Service
from gateway.runtime import Runtime
from gateway.signature import check_signer, has_signature, verify_signature
from gateway.soap.envelope import (
    Envelope,
    ack_envelope,
    fault_envelope,
    result_envelope,
    split_envelope,
)
from gateway.state import state_result
from gateway.trace import RequestOutcome, RequestTrace
from gateway.validation import request_version, validate, validate_header
from gateway.xmlparse import parse_xml
from persistence import packets
from persistence.clock import utcnow
from persistence.db import single_statements
from persistence.errors import describe, is_transient
from persistence.organizations import OrgRecord
from signing import CertificateError, Verified
from signing.certificates import subject_string

log = logging.getLogger("gateway.accept")
_VERSION = qname(BASE, "version")


@dataclass(frozen=True)
class HttpRequest:
    path: str
    soap_action: str | None
    authorization: str | None
    body: bytes
    remote_addr: str | None = None
    client_cert: bytes | None = None  # DER of a verified TLS client certificate


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class _Known:
    """What the pipeline learned so far: a refused packet is filed with it, and the request's
    trace (metrics, the log line) is built from it."""

    service: Service | None = None
    operation: Operation | None = None
    header: RequestHeader | None = None
    version: str | None = None
    signer_subject: str | None = None
    message_guid: str | None = None
    outcome: RequestOutcome = "fault"
    error: GatewayError | None = None
    #: the signature's cryptography, checked once even when the directory checks run again
    verified: Verified | None = None

    def trace(self, request: HttpRequest, reply: Reply, seconds: float) -> RequestTrace:
        error = self.error
        return RequestTrace(
            service=self.service.name if self.service else "unknown",
            operation=self.operation.name if self.operation else "unknown",
            outcome="fault" if error else self.outcome,
            http_status=reply.status,
            seconds=seconds,
            size=len(request.body),
            org_guid=(self.header.org_guid or None) if self.header else None,
            requester_message_guid=self.header.message_guid if self.header else None,
            message_guid=self.message_guid,
            fault_code=error.code if error else None,
            error=error.message if error else "",
            signature_reason=observe.signature_reason(error) if error else None,
        )


class AcceptPipeline:
    def __init__(self, runtime: Runtime, on_enqueued: Callable[[], None] | None = None) -> None:
        self.rt = runtime
        self.registry: Registry = runtime.registry
        self.on_enqueued = on_enqueued or (lambda: None)
        self.limits = runtime.settings.limits
        self.basic_throttle = limits.LoginThrottle(runtime.session, self.limits, "basic")
        hours = runtime.settings.security.request_date_window_hours
        self.date_window = timedelta(hours=hours) if hours > 0 else None

    def handle(self, request: HttpRequest) -> Reply:
        """Answer one SOAP request (an Ack, a getStateResult or a Fault), and hand what it
        came to to metrics and the log."""
        observe.clear()
        started = time.perf_counter()
        known = _Known()
        try:
            reply = self._answer(request, known)
            observe.answered(known.trace(request, reply, time.perf_counter() - started))
            return reply
        finally:
            observe.clear()

    def _answer(self, request: HttpRequest, known: _Known) -> Reply:
        try:
            return self._accept(request, known)
        except GatewayError as error:
            return self._refuse(request, error, known)
        except Exception as exc:
            if is_transient(exc):
                log.warning("database unavailable: %s", describe(exc))
                unavailable = errors.TemporarilyUnavailable(
                    "The gateway's database is unreachable or busy right now; try again later."
                )
                return self._refuse(request, unavailable, known)
            log.exception("internal error while accepting a packet")
            return self._refuse(
                request, errors.InternalError("Internal error while accepting the packet."), known
            )

    def _accept(self, request: HttpRequest, known: _Known) -> Reply:
        service = known.service = self._service(request.path)
        root = parse_xml(request.body, self.rt.xml_limits)  # 1 transport guard: hardened parse
        envelope = split_envelope(root)
        operation = known.operation = self.registry.route(  # 2 route
            service, request.soap_action, envelope.body.tag, envelope.wcf_action
        )
        header = known.header = read_request_header(envelope, service.header)  # 3 header
        if not header.org_guid:  # ISRequestHeader: the transport names the caller
            header = known.header = header.with_org(self._caller(request))
        observe.request_header(header.org_guid, header.message_guid)
        known.version = request_version(envelope.body)
        bundle = self.rt.formats.select(service, operation, known.version)  # format version
        self._check_header(bundle, service, envelope, header)
        self._validate(bundle, service, envelope.body)  # 4 validate
        for _ in range(_DIRECTORY_ATTEMPTS):
            try:
                return self._admit(request, service, operation, header, envelope, known)
            except _StaleDirectory:
                continue  # changed under the checks: they run again on fresh data
        raise errors.TemporarilyUnavailable(
            "The organisation directory is changing right now; try again later."
        )

    def _admit(
        self,
        request: HttpRequest,
        service: Service,
        operation: Operation,
        header: RequestHeader,
        envelope: Envelope,
        known: _Known,
    ) -> Reply:
        """Steps 5–8 against this process's cached directory (gateway.caches); the
        transaction that stores the packet (or reads its state) confirms the cache was
        current, else _StaleDirectory and nothing is answered from it."""
        directory = self.rt.directory.snapshot()
        if operation.kind == "state":
            known.outcome = "state"
            return self._get_state(request, service, operation, header, envelope, known, directory)
        org = self._authenticate(request, operation, header, envelope, known, directory)  # 5
        self._authorize(operation, org)  # 6 authorize
        with limits.in_progress(self.rt.request_slots, self.limits, org.guid):
            outcome = self._persist(request, operation, header, envelope, known, directory)  # 7
        if outcome.status == "conflict":
            raise errors.DuplicateMessage(
                f"MessageGUID {header.message_guid} was already used by this organisation for a "
                "different packet; use a new MessageGUID for every request."
            )
        known.message_guid = outcome.message_guid
        observe.stored(outcome.message_guid)
        known.outcome = "accepted" if outcome.status == "new" else "duplicate"
        if outcome.status == "new":
            self.on_enqueued()
        return Reply(200, ack_envelope(outcome.message_guid, outcome.requester_message_guid))  # 8

    # --- steps -----------------------------------------------------------------------------

    def _service(self, path: str) -> Service:
        service = self.registry.service_for_path(path)
        if service is None:
            raise errors.UnsupportedOperation(f"No service is served at {path}.")
        return service

    def _check_header(
        self, bundle: Bundle, service: Service, envelope: Envelope, header: RequestHeader
    ) -> None:
        """The whole RequestHeader against the base schema, and its Date within the window."""
        element = envelope.header(header.tag)
        assert element is not None  # read_request_header refused a missing one
        validate_header(bundle, service, element)
        if self.date_window:
            check_date(header.date, datetime.now(UTC), self.date_window)

    def _validate(self, bundle: Bundle, service: Service, element: etree._Element) -> None:
        if element.get("version") is not None and element.get(_VERSION) is None:
            # Some clients send an unprefixed version attribute; validate a copy in the
            # canonical form so the signed element stays untouched.
            element = copy.deepcopy(element)
            element.set(_VERSION, element.attrib.pop("version"))
        validate(bundle, service, element)

    def _caller(self, request: HttpRequest) -> str:
        """The organisation of an ISRequestHeader call (the checks of step 5 follow)."""
        return transport_org(
            parse_basic(request.authorization),
            request.client_cert,
            self.rt.directory.snapshot().certificate_owner,
        )

    def _authenticate(
        self,
        request: HttpRequest,
        operation: Operation,
        header: RequestHeader,
        envelope: Envelope,
        known: _Known,
        directory: Snapshot,
        failed_logins: dict[str, int] | None = None,
    ) -> OrgRecord:
        """Step 5: HTTP credentials (refused past the failed-login limits without checking the
        password; ``failed_logins``: the counts already read, else they are read here), TLS
        client certificate, organisation, signature and signer."""
        credentials = parse_basic(request.authorization)
        org = directory.organization(header.org_guid)
        if request.client_cert:
            self.rt.revocation.check(
                self._chain(directory, x509.load_der_x509_certificate(request.client_cert)),
                "TLS client certificate",
            )
        by_certificate = client_certificate_org(
            request.client_cert, directory.certificate_owner, header
        )
        if credentials is not None:
            if failed_logins is None:
                with single_statements(self.rt.read_engine) as conn:  # counted on all nodes
                    self.basic_throttle.check(conn, header.org_guid, request.remote_addr)
            else:
                self.basic_throttle.refuse_past(header.org_guid, request.remote_addr, failed_logins)
            try:
                check_credentials(credentials, org, header.org_guid)
            except errors.Unauthenticated:
                self.basic_throttle.failed(header.org_guid, request.remote_addr)
                raise
        signed = operation.kind != "state" and has_signature(envelope.body)
        if operation.kind == "import" and not signed:
            raise errors.SignatureInvalid(
                f"{operation.name} must be signed: ds:Signature is missing from the request element."
            )
        if credentials is None and not signed and not by_certificate:
            raise errors.Unauthenticated(
                "This call needs HTTP Basic credentials (user: your orgPPAGUID)."
            )
        if org is None:
            raise errors.UnknownOrganization(f"Organisation {header.org_guid} is not registered.")
        check_not_locked(org)
        if signed:
            if known.verified is None:
                known.verified = verify_signature(envelope.body, self.rt.verify_policy)
            verified = known.verified
            chain = check_signer(verified, directory, org.guid)
            known.signer_subject = subject_string(verified.certificate)
            self.rt.revocation.check(chain, "Signer certificate")
            if self.date_window and verified.signing_time is not None:
                check_date(
                    verified.signing_time,
                    datetime.now(UTC),
                    self.date_window,
                    "The signature's SigningTime",
                    errors.SignatureInvalid,
                )
        return org

    def _chain(self, directory: Snapshot, cert: x509.Certificate) -> list[x509.Certificate]:
        """``cert`` and the certificates above it in the trust store (as far as it knows)."""
        try:
            return directory.chain(cert)
        except CertificateError:
            return [cert]

    def _authorize(self, operation: Operation, org: OrgRecord) -> None:
        if org.role not in operation.roles:
            raise errors.NotAllowed(
                f"Operation {operation.name} is not allowed for organisations of role "
                f"'{org.role}' (allowed: {', '.join(sorted(operation.roles))})."
            )

    def _get_state(
        self,
        request: HttpRequest,
        service: Service,
        operation: Operation,
        header: RequestHeader,
        envelope: Envelope,
        known: _Known,
        directory: Snapshot,
    ) -> Reply:
        """Steps 5–8 of getState, with what they read from the database read first in one
        statement: the caller's failed logins, the packet, the directory generation and, on
        PostgreSQL, a request slot (held by nobody once the statement ends). Nothing read is
        answered before the checks pass."""
        message_guid = (envelope.body.findtext(qname(BASE, "MessageGUID")) or "").strip().lower()
        logins = (
            self.basic_throttle.keys(header.org_guid, request.remote_addr)
            if request.authorization is not None
            else []
        )
        slots = limits.state_slots(self.limits, header.org_guid.lower(), self.rt.request_slots)
        with single_statements(self.rt.read_engine) as conn:
            read = packets.state_lookup(
                conn, message_guid, slots, logins, self.basic_throttle.window()
            )
        org = self._authenticate(
            request, operation, header, envelope, known, directory, read.failed_logins
        )  # 5
        self._authorize(operation, org)  # 6
        with limits.in_progress(self.rt.request_slots, self.limits, org.guid):  # SQLite's slot
            if read.busy:  # PostgreSQL: the statement found every slot held
                raise limits.too_many_in_progress(self.limits, org.guid)
            self._confirm(directory, read.generation)
            result = state_result(service, read.packet, org.guid)  # 7
        return Reply(200, result_envelope(result, message_guid))  # 8

    def _persist(
        self,
        request: HttpRequest,
        operation: Operation,
        header: RequestHeader,
        envelope: Envelope,
        known: _Known,
        directory: Snapshot,
    ) -> packets.AcceptOutcome:
        new = packets.NewPacket(
            requester_message_guid=header.message_guid,
            org_guid=header.org_guid,
            service=operation.service,
            operation=operation.name,
            version=known.version,
            raw=request.body,
            body_sha256=_operation_digest(envelope.body, known.verified),
            signer_subject=known.signer_subject,
            remote_addr=request.remote_addr,
        )
        org_guid = new.org_guid.lower()
        now = utcnow()

        def store(conn: Connection) -> packets.AcceptOutcome:
            """PostgreSQL (autocommit): the statement refused the packet, writing nothing,
            in every case that raises here; SQLite: the raise rolls the packet back."""
            counting = limits.counting(self.limits, org_guid, now, self.rt.request_slots)
            outcome = packets.accept(
                conn, new, counting, now=now, expect_generation=directory.generation
            )
            if outcome.status == "busy":  # PostgreSQL: the statement found every slot held
                raise limits.too_many_in_progress(self.limits, org_guid)
            self._confirm(directory, outcome.stored.generation)
            if outcome.status in ("new", "limited"):  # a refused packet is not counted
                limits.admit_packet(self.limits, org_guid, outcome.stored, now)
            return outcome

        return self.rt.committer.run(store)  # returns once durably committed

    def _confirm(self, directory: Snapshot, generation: int) -> None:
        """The directory the checks used must still be current (read in the transaction):
        the same generation, as the PostgreSQL accept statement compares it."""
        self.rt.directory.observe(generation)
        if generation != directory.generation:
            raise _StaleDirectory

    # --- refusals --------------------------------------------------------------------------

    def _refuse(self, request: HttpRequest, error: GatewayError, known: _Known) -> Reply:
        known.error = error
        if error.record:
            self._record(request, error, known)
        headers: tuple[tuple[str, str], ...] = ()
        if error.http_status == 401:
            headers = (("WWW-Authenticate", 'Basic realm="hcs-gateway"'),)
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            headers = (*headers, ("Retry-After", str(retry_after)))
        return Reply(error.http_status, fault_envelope(error), headers)

    def _record(self, request: HttpRequest, error: GatewayError, known: _Known) -> None:
        try:
            with self.rt.session.begin() as session:
                keep = getattr(error, "keep_bytes", None)
                packets.record_rejected(
                    session,
                    raw=request.body if keep is None else request.body[:keep],
                    body_sha256=hashlib.sha256(request.body).hexdigest(),
                    error_code=error.code,
                    error_message=error.message,
                    org_guid=(known.header.org_guid or None) if known.header else None,
                    requester_message_guid=known.header.message_guid if known.header else None,
                    service=known.service.name if known.service else None,
                    operation=known.operation.name if known.operation else None,
                    version=known.version,
                    signer_subject=known.signer_subject,
                    remote_addr=request.remote_addr,
                )
        except Exception:
            # The refusal is still answered; ops see this in the log.
            log.exception("could not record a rejected packet (%s)", error.code)


def internal_error_reply() -> Reply:
    """The Fault answered when the SOAP framework itself fails before the pipeline runs."""
    return Reply(
        500, fault_envelope(errors.InternalError("Internal error while reading the request."))
    )


class _StaleDirectory(Exception):
    """The directory changed after the checks read it from the cache (the transaction
    that found it out is rolled back, or wrote nothing)."""


#: Rounds of checks against a directory that keeps changing before the request gives up.
_DIRECTORY_ATTEMPTS = 3


def _operation_digest(element: etree._Element, verified: Verified | None) -> str:
    """Identity of a packet for idempotency: the operation element in exclusive c14n
    without comments (the verifier's bytes when it digested exactly that)."""
    if verified is not None and verified.exclusive_c14n is not None:
        return hashlib.sha256(verified.exclusive_c14n).hexdigest()
    canonical = etree.tostring(element, method="c14n", exclusive=True, with_comments=False)
    return hashlib.sha256(canonical).hexdigest()
