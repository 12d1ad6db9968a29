"""Plain-text rendering of a :class:`signing.diagnose.Diagnosis` (CLI and console)."""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography import x509

from gateway.codes import Code
from signing import TrustStore
from signing.diagnose import Diagnosis, diagnose, signed_element

#: Fault codes of refusals the signature diagnosis explains.
SIGNATURE_CODES = frozenset({Code.CERTIFICATE_REFUSED, Code.SIGNATURE_INVALID})


def render_diagnosis(report: Diagnosis) -> str:
    """The report a client developer reads: one block per step, the verdict last."""
    lines = [f"signed element: {report.element}   checked at: {report.at}"]
    if report.canonicalization:
        lines += [
            "",
            "SignedInfo",
            f"  canonicalization: {report.canonicalization}",
            f"  signature method: {report.signature_method}",
            "  signature value:  "
            + (
                "verifies"
                if report.signature_verifies
                else f"DOES NOT VERIFY ({report.signature_problem})"
            ),
        ]
    for index, ref in enumerate(report.references, 1):
        lines += [
            "",
            f"Reference {index}: URI={ref.uri} -> {ref.target or '?'}",
            f"  transforms: {', '.join(ref.transforms) or '(none: inclusive c14n)'}",
            f"  digest:     {ref.digest_method}",
            f"  expected:   {ref.expected}",
            f"  computed:   {ref.computed or '-'}",
            "  result:     "
            + ("matches" if ref.matches else "MISMATCH")
            + (f" ({ref.problem})" if ref.problem else ""),
        ]
    cert = report.certificate
    if cert is not None:
        lines += [
            "",
            "Certificate",
            f"  subject:  {cert.subject}",
            f"  issuer:   {cert.issuer}",
            f"  serial:   {cert.serial}",
            f"  key:      {cert.key_algorithm}",
            f"  validity: {cert.not_before} .. {cert.not_after} ({cert.validity} at {report.at})",
            "  chain:    " + (" -> ".join(cert.chain) if cert.chain else "-"),
            "  trusted:  " + ("yes" if cert.trusted else f"NO ({cert.problem})"),
        ]
    if report.xades:
        lines += ["", f"XAdES: {report.xades}"]
        if report.signing_time:
            lines.append(f"  SigningTime: {report.signing_time}")
    lines += ["", ("VALID: " if report.valid else "INVALID: ") + report.verdict]
    return "\n".join(lines)


def diagnose_packet(raw: bytes, trust_pems: list[str], at: datetime) -> str | None:
    """The rendered diagnosis of a stored packet's signature at ``at`` (its arrival), or None
    when the bytes hold no readable signed element."""
    from gateway.xmlparse import parse_xml

    try:
        element = signed_element(parse_xml(raw))
    except Exception:  # noqa: BLE001 - a refused packet may be anything
        return None
    anchors = [x509.load_pem_x509_certificate(pem.encode()) for pem in trust_pems]
    when = at if at.tzinfo else at.replace(tzinfo=UTC)
    return render_diagnosis(diagnose(element, TrustStore(anchors) if anchors else None, when))
