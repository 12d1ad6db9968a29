"""SignatureValue primitives: RSA PKCS#1 v1.5, ECDSA with XML-DSig's raw r||s, and
GOST R 34.10-2012 (``s || r`` as OpenSSL's gost engine and CryptoPro write it)."""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from . import gost
from .algorithms import GOST_2001_REFUSAL, SignatureMethod
from .certificates import der, remembered
from .errors import Reason, SignatureError

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | gost.PublicKey
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | gost.PrivateKey

_GOST_2012_KEYS = (gost.GostKeyAlgorithm.GOST2012_256, gost.GostKeyAlgorithm.GOST2012_512)
_GOST_2012_OIDS = frozenset(algorithm.value for algorithm in _GOST_2012_KEYS)


def _curve_bytes(curve: ec.EllipticCurve) -> int:
    return (curve.key_size + 7) // 8


def certificate_key(certificate: x509.Certificate) -> PublicKey:
    """The public key of ``certificate``: RSA/ECDSA through cryptography, GOST R 34.10-2012
    through :mod:`signing.gost`; GOST R 34.10-2001 and unknown keys are refused (kept per
    certificate object, which signing.structure keeps per KeyInfo certificate; a refusal is
    not kept)."""
    return remembered(certificate, "key", _certificate_key)


def _certificate_key(certificate: x509.Certificate) -> PublicKey:
    oid = certificate.public_key_algorithm_oid.dotted_string
    if oid in _GOST_2012_OIDS:  # cryptography cannot read these keys
        return _gost_key(certificate)
    try:
        key = certificate.public_key()
    except UnsupportedAlgorithm:
        pass
    else:
        if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            return key
        raise SignatureError(
            Reason.ALGORITHM_UNSUPPORTED,
            f"the certificate's {type(key).__name__} key is not supported",
        )
    if oid == gost.GostKeyAlgorithm.GOST2001:
        raise SignatureError(
            Reason.ALGORITHM_INSECURE,
            f"the certificate has a GOST R 34.10-2001 key: {GOST_2001_REFUSAL}",
        )
    raise SignatureError(
        Reason.ALGORITHM_UNSUPPORTED, f"the certificate's key algorithm {oid} is not supported"
    )


def _gost_key(certificate: x509.Certificate) -> PublicKey:
    """The GOST R 34.10-2012 key of ``certificate`` through the engine."""
    try:
        backend = gost.backend()
    except gost.GostUnavailable as exc:
        raise SignatureError(
            Reason.ALGORITHM_UNSUPPORTED,
            f"the certificate's GOST key cannot be checked here: {exc}",
        ) from None
    try:
        return backend.certificate_public_key(der(certificate))
    except ValueError as exc:
        raise SignatureError(Reason.MALFORMED, f"the certificate's GOST key: {exc}") from None


def check_key(method: SignatureMethod, key: object, min_rsa_key_size: int) -> None:
    """Refuse a key that does not fit the method or is too weak."""
    kind = method.key_kind
    if kind == "rsa":
        if not isinstance(key, rsa.RSAPublicKey):
            raise SignatureError(Reason.BAD_SIGNATURE, f"{method} needs an RSA certificate key")
        if key.key_size < min_rsa_key_size:
            raise SignatureError(
                Reason.ALGORITHM_INSECURE,
                f"RSA key of {key.key_size} bits is below the minimum of {min_rsa_key_size}",
            )
    elif kind == "gost":
        if not isinstance(key, gost.PublicKey):
            raise SignatureError(Reason.BAD_SIGNATURE, f"{method} needs a GOST certificate key")
        if key.key_size != method.gost_key_size:
            raise SignatureError(
                Reason.BAD_SIGNATURE,
                f"{method} needs a {method.gost_key_size}-bit GOST R 34.10-2012 key; the "
                f"certificate's is {key.key_size}-bit",
            )
    elif not isinstance(key, ec.EllipticCurvePublicKey):
        raise SignatureError(Reason.BAD_SIGNATURE, f"{method} needs an EC certificate key")


def verify_value(method: SignatureMethod, key: PublicKey, data: bytes, value: bytes) -> bool:
    """True when ``value`` is a valid signature of ``data`` (key already checked)."""
    try:
        if isinstance(key, gost.PublicKey):
            return key.verify(method.gost_digest, data, value)
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(value, data, padding.PKCS1v15(), method.hash)
        else:
            size = _curve_bytes(key.curve)
            if len(value) != 2 * size:
                return False
            r = int.from_bytes(value[:size], "big")
            s = int.from_bytes(value[size:], "big")
            key.verify(encode_dss_signature(r, s), data, ec.ECDSA(method.hash))
    except InvalidSignature:
        return False
    return True


def sign_value(method: SignatureMethod, key: PrivateKey, data: bytes) -> bytes:
    """SignatureValue bytes of ``data`` (raw r||s for ECDSA, s||r for GOST)."""
    if isinstance(key, gost.PrivateKey) and method.key_kind == "gost":
        return key.sign(method.gost_digest, data)
    if isinstance(key, rsa.RSAPrivateKey) and method.key_kind == "rsa":
        return key.sign(data, padding.PKCS1v15(), method.hash)
    if isinstance(key, ec.EllipticCurvePrivateKey) and method.key_kind == "ecdsa":
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(method.hash)))
        size = _curve_bytes(key.curve)
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    raise ValueError(f"{method} does not fit a {type(key).__name__}")
