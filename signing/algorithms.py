"""Algorithm identifiers: enums whose values are the URIs used in XML-DSig.

Every URI read from a document goes through :func:`parse`, so an unknown URI is an
error at the boundary, GOST URIs are recognised but refused as not yet supported, and
insecure ones (SHA-1, MD5, DSA, HMAC) are refused outright.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import TypeVar

from cryptography.hazmat.primitives import hashes

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
        return None if self is Transform.ENVELOPED else C14N(self.value)


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
        return hashlib.new(_HASHLIB_NAMES[self], data).digest()


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
        """``"rsa"`` or ``"ecdsa"`` for supported methods."""
        return "ecdsa" if self.name.startswith("ECDSA") else "rsa"

    @property
    def hash(self) -> hashes.HashAlgorithm:
        """The cryptography hash of a supported method."""
        return _SIGNATURE_HASHES[self]()


_HASHLIB_NAMES = {Digest.SHA256: "sha256", Digest.SHA384: "sha384", Digest.SHA512: "sha512"}
_SIGNATURE_HASHES: dict[SignatureMethod, type[hashes.HashAlgorithm]] = {
    SignatureMethod.RSA_SHA256: hashes.SHA256,
    SignatureMethod.RSA_SHA384: hashes.SHA384,
    SignatureMethod.RSA_SHA512: hashes.SHA512,
    SignatureMethod.ECDSA_SHA256: hashes.SHA256,
    SignatureMethod.ECDSA_SHA384: hashes.SHA384,
    SignatureMethod.ECDSA_SHA512: hashes.SHA512,
}

SUPPORTED_DIGESTS: frozenset[Digest] = frozenset(_HASHLIB_NAMES)
SUPPORTED_SIGNATURE_METHODS: frozenset[SignatureMethod] = frozenset(_SIGNATURE_HASHES)

GOST: frozenset[str] = frozenset(
    {
        Digest.GOSTR3411_2012_256,
        Digest.GOSTR3411_2012_512,
        Digest.GOSTR3411_94,
        Digest.GOSTR3411_94_CPXMLSEC,
        SignatureMethod.GOSTR34102012_256,
        SignatureMethod.GOSTR34102012_512,
        SignatureMethod.GOSTR34102001,
        SignatureMethod.GOSTR34102001_CPXMLSEC,
    }
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


def parse(kind: type[A], uri: str | None) -> A:
    """Map a URI read from a document to an algorithm, refusing what must be refused."""
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
    if uri in GOST:
        raise SignatureError(
            Reason.ALGORITHM_UNSUPPORTED, f"GOST algorithms are not supported yet ({what} {uri})"
        )
    if uri in INSECURE:
        raise SignatureError(Reason.ALGORITHM_INSECURE, f"insecure {what} algorithm refused: {uri}")
    try:
        return kind(uri)
    except ValueError:
        raise SignatureError(
            Reason.ALGORITHM_UNKNOWN, f"unknown {what} algorithm {uri!r}"
        ) from None
