"""Algorithm identifiers: enums whose values are the URIs used in XML-DSig.

Every URI read from a document goes through :func:`parse`, so an unknown URI is an
error at the boundary, insecure ones (SHA-1, MD5, DSA, HMAC) and the withdrawn GOST R
34.10-2001 are refused outright, and GOST R 34.10/34.11-2012 (and the GOST R 34.11-94 digest
that clients still put on SignedProperties) are served by :mod:`signing.gost` in C, or
refused with the reason when this server lacks the gost engine.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import TypeVar

from cryptography.hazmat.primitives import hashes

from . import gost
from .errors import Reason, SignatureError


class C14N(StrEnum):
    """Canonicalization methods.

    C14N 1.1 differs from 1.0 only in how ``xml:id``/``xml:base`` of ancestors are
    inherited by a document subset; :mod:`signing.c14n` handles that difference.
    """

    INCLUSIVE = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
    INCLUSIVE_WITH_COMMENTS = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"
    C14N11 = "http://www.w3.org/2006/12/xml-c14n11"
    C14N11_WITH_COMMENTS = "http://www.w3.org/2006/12/xml-c14n11#WithComments"
    EXCLUSIVE = "http://www.w3.org/2001/10/xml-exc-c14n#"
    EXCLUSIVE_WITH_COMMENTS = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"

    @property
    def exclusive(self) -> bool:
        return self in (C14N.EXCLUSIVE, C14N.EXCLUSIVE_WITH_COMMENTS)

    @property
    def with_comments(self) -> bool:
        return self.endswith("WithComments")

    @property
    def version_11(self) -> bool:
        return self in (C14N.C14N11, C14N.C14N11_WITH_COMMENTS)

    @property
    def without_comments(self) -> C14N:
        """The same method without comments (what a ``#id`` reference implies)."""
        if not self.with_comments:
            return self
        return C14N(
            self.removesuffix("WithComments")
            if self.exclusive
            else self.removesuffix("#WithComments")
        )


class Transform(StrEnum):
    """The only transforms accepted: enveloped-signature and canonicalization."""

    ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
    INCLUSIVE = C14N.INCLUSIVE.value
    INCLUSIVE_WITH_COMMENTS = C14N.INCLUSIVE_WITH_COMMENTS.value
    C14N11 = C14N.C14N11.value
    C14N11_WITH_COMMENTS = C14N.C14N11_WITH_COMMENTS.value
    EXCLUSIVE = C14N.EXCLUSIVE.value
    EXCLUSIVE_WITH_COMMENTS = C14N.EXCLUSIVE_WITH_COMMENTS.value

    @property
    def c14n(self) -> C14N | None:
        return _TRANSFORM_C14N[self]


#: A table, not ``C14N(self.value)``: an enum call costs more than the rest of the lookup.
_TRANSFORM_C14N: dict[Transform, C14N | None] = {
    transform: None if transform is Transform.ENVELOPED else C14N(transform.value)
    for transform in Transform
}


class Digest(StrEnum):
    """Digest methods (supported, GOST and insecure ones)."""

    SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
    SHA384 = "http://www.w3.org/2001/04/xmldsig-more#sha384"
    SHA512 = "http://www.w3.org/2001/04/xmlenc#sha512"
    GOSTR3411_2012_256 = "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34112012-256"
    GOSTR3411_2012_512 = "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34112012-512"
    GOSTR3411_94 = "http://www.w3.org/2001/04/xmldsig-more#gostr3411"
    GOSTR3411_94_CPXMLSEC = "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr3411"
    SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"
    MD5 = "http://www.w3.org/2001/04/xmldsig-more#md5"

    def compute(self, data: bytes) -> bytes:
        """Digest of ``data``; only for supported methods."""
        name = _HASHLIB_NAMES.get(self)
        if name is not None:
            return hashlib.new(name, data).digest()
        return gost.backend().digest(_GOST_DIGESTS[self], data)

    @property
    def is_gost(self) -> bool:
        return self in _GOST_DIGESTS


class SignatureMethod(StrEnum):
    """Signature methods (supported, GOST and insecure ones)."""

    RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    RSA_SHA384 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
    RSA_SHA512 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
    ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
    ECDSA_SHA384 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384"
    ECDSA_SHA512 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512"
    GOSTR34102012_256 = "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34102012-gostr34112012-256"
    GOSTR34102012_512 = "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34102012-gostr34112012-512"
    GOSTR34102001 = "http://www.w3.org/2001/04/xmldsig-more#gostr34102001-gostr3411"
    GOSTR34102001_CPXMLSEC = "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34102001-gostr3411"
    RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
    RSA_MD5 = "http://www.w3.org/2001/04/xmldsig-more#rsa-md5"
    ECDSA_SHA1 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1"
    DSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#dsa-sha1"
    DSA_SHA256 = "http://www.w3.org/2009/xmldsig11#dsa-sha256"
    HMAC_SHA1 = "http://www.w3.org/2000/09/xmldsig#hmac-sha1"
    HMAC_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"

    @property
    def key_kind(self) -> str:
        """``"rsa"``, ``"ecdsa"`` or ``"gost"`` for supported methods."""
        if self.name.startswith("GOST"):
            return "gost"
        return "ecdsa" if self.name.startswith("ECDSA") else "rsa"

    @property
    def hash(self) -> hashes.HashAlgorithm:
        """The cryptography hash of a supported RSA or ECDSA method."""
        return _SIGNATURE_HASHES[self]()

    @property
    def gost_digest(self) -> gost.GostDigest:
        """The Streebog variant of a GOST R 34.10-2012 method."""
        return _GOST_SIGNATURE_DIGESTS[self]

    @property
    def gost_key_size(self) -> int:
        """256 or 512: the GOST R 34.10-2012 key size the method needs."""
        return 512 if self is SignatureMethod.GOSTR34102012_512 else 256


_HASHLIB_NAMES = {Digest.SHA256: "sha256", Digest.SHA384: "sha384", Digest.SHA512: "sha512"}
_SIGNATURE_HASHES: dict[SignatureMethod, type[hashes.HashAlgorithm]] = {
    SignatureMethod.RSA_SHA256: hashes.SHA256,
    SignatureMethod.RSA_SHA384: hashes.SHA384,
    SignatureMethod.RSA_SHA512: hashes.SHA512,
    SignatureMethod.ECDSA_SHA256: hashes.SHA256,
    SignatureMethod.ECDSA_SHA384: hashes.SHA384,
    SignatureMethod.ECDSA_SHA512: hashes.SHA512,
}

_GOST_DIGESTS = {
    Digest.GOSTR3411_2012_256: gost.GostDigest.STREEBOG_256,
    Digest.GOSTR3411_2012_512: gost.GostDigest.STREEBOG_512,
    Digest.GOSTR3411_94: gost.GostDigest.GOSTR3411_94,
    Digest.GOSTR3411_94_CPXMLSEC: gost.GostDigest.GOSTR3411_94,
}
_GOST_SIGNATURE_DIGESTS = {
    SignatureMethod.GOSTR34102012_256: gost.GostDigest.STREEBOG_256,
    SignatureMethod.GOSTR34102012_512: gost.GostDigest.STREEBOG_512,
}

SUPPORTED_DIGESTS: frozenset[Digest] = frozenset(_HASHLIB_NAMES) | frozenset(_GOST_DIGESTS)
SUPPORTED_SIGNATURE_METHODS: frozenset[SignatureMethod] = frozenset(_SIGNATURE_HASHES) | frozenset(
    _GOST_SIGNATURE_DIGESTS
)

#: GOST URIs that need :mod:`signing.gost` (the C engine).
GOST: frozenset[str] = frozenset(_GOST_DIGESTS) | frozenset(_GOST_SIGNATURE_DIGESTS)

#: GOST R 34.10-2001: recognised, named and refused.
GOST_2001: frozenset[str] = frozenset(
    {SignatureMethod.GOSTR34102001, SignatureMethod.GOSTR34102001_CPXMLSEC}
)
GOST_2001_REFUSAL = (
    "GOST R 34.10-2001 signatures are refused: the algorithm was withdrawn (qualified "
    "signatures may not use it since 1 January 2019); sign with a GOST R 34.10-2012 key "
    "(urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34102012-gostr34112012-256 or -512)"
)
INSECURE: frozenset[str] = frozenset(
    {
        Digest.SHA1,
        Digest.MD5,
        SignatureMethod.RSA_SHA1,
        SignatureMethod.RSA_MD5,
        SignatureMethod.ECDSA_SHA1,
        SignatureMethod.DSA_SHA1,
        SignatureMethod.DSA_SHA256,
        SignatureMethod.HMAC_SHA1,
        SignatureMethod.HMAC_SHA256,
    }
)

#: Transforms that are well known but never accepted (they let a signer choose what is signed).
REFUSED_TRANSFORMS: dict[str, str] = {
    "http://www.w3.org/TR/1999/REC-xpath-19991116": "XPath",
    "http://www.w3.org/2002/06/xmldsig-filter2": "XPath Filter 2.0",
    "http://www.w3.org/TR/1999/REC-xslt-19991116": "XSLT",
    "http://www.w3.org/2000/09/xmldsig#base64": "base64",
}

A = TypeVar("A", C14N, Transform, Digest, SignatureMethod)

_KIND_NAMES = {
    C14N: "canonicalization",
    Transform: "transform",
    Digest: "digest",
    SignatureMethod: "signature",
}


#: Per kind, the members a URI maps to without any of the refusals above (no GOST, which
#: depends on the engine here): the exact URI as written is looked up before the rest.
_PLAIN: dict[type, dict[str, object]] = {
    kind: {
        member.value: member
        for member in kind
        if member.value not in REFUSED_TRANSFORMS
        and member.value not in GOST_2001
        and member.value not in GOST
        and member.value not in INSECURE
    }
    for kind in _KIND_NAMES
}


#: Per kind, the members served by the GOST engine: looked up directly when it is here.
_GOST_PLAIN: dict[type, dict[str, object]] = {
    kind: {member.value: member for member in kind if member.value in GOST} for kind in _KIND_NAMES
}


def parse(kind: type[A], uri: str | None) -> A:
    """Map a URI read from a document to an algorithm, refusing what must be refused."""
    found = _PLAIN[kind].get(uri)  # type: ignore[arg-type]
    if found is not None:
        return found  # type: ignore[return-value]
    found = _GOST_PLAIN[kind].get(uri)  # type: ignore[arg-type]
    if found is not None and gost.unavailable_reason() is None:
        return found  # type: ignore[return-value]
    what = _KIND_NAMES[kind]
    if uri is None:
        raise SignatureError(Reason.MALFORMED, f"{what} method without an Algorithm attribute")
    uri = uri.strip()
    if uri in REFUSED_TRANSFORMS:
        raise SignatureError(
            Reason.ALGORITHM_UNSUPPORTED,
            f"{REFUSED_TRANSFORMS[uri]} transforms are not accepted; only enveloped-signature "
            "and canonicalization transforms are",
        )
    if uri in GOST_2001:
        raise SignatureError(Reason.ALGORITHM_INSECURE, f"{GOST_2001_REFUSAL} ({what} {uri})")
    if uri in GOST:
        reason = gost.unavailable_reason()
        if reason is not None:
            raise SignatureError(
                Reason.ALGORITHM_UNSUPPORTED, f"{what} {uri} cannot be checked here: {reason}"
            )
    if uri in INSECURE:
        raise SignatureError(Reason.ALGORITHM_INSECURE, f"insecure {what} algorithm refused: {uri}")
    try:
        return kind(uri)
    except ValueError:
        raise SignatureError(
            Reason.ALGORITHM_UNKNOWN, f"unknown {what} algorithm {uri!r}"
        ) from None
