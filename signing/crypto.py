"""SignatureValue primitives: RSA PKCS#1 v1.5 and ECDSA with XML-DSig's raw r||s."""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from .algorithms import SignatureMethod
from .errors import Reason, SignatureError

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def _curve_bytes(curve: ec.EllipticCurve) -> int:
    return (curve.key_size + 7) // 8


def check_key(method: SignatureMethod, key: object, min_rsa_key_size: int) -> None:
    """Refuse a key that does not fit the method or is too weak."""
    if method.key_kind == "rsa":
        if not isinstance(key, rsa.RSAPublicKey):
            raise SignatureError(Reason.BAD_SIGNATURE, f"{method} needs an RSA certificate key")
        if key.key_size < min_rsa_key_size:
            raise SignatureError(
                Reason.ALGORITHM_INSECURE,
                f"RSA key of {key.key_size} bits is below the minimum of {min_rsa_key_size}",
            )
    elif not isinstance(key, ec.EllipticCurvePublicKey):
        raise SignatureError(Reason.BAD_SIGNATURE, f"{method} needs an EC certificate key")


def verify_value(method: SignatureMethod, key: PublicKey, data: bytes, value: bytes) -> bool:
    """True when ``value`` is a valid signature of ``data`` (key already checked)."""
    try:
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
    """SignatureValue bytes of ``data`` (raw r||s for ECDSA)."""
    if isinstance(key, rsa.RSAPrivateKey) and method.key_kind == "rsa":
        return key.sign(data, padding.PKCS1v15(), method.hash)
    if isinstance(key, ec.EllipticCurvePrivateKey) and method.key_kind == "ecdsa":
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(method.hash)))
        size = _curve_bytes(key.curve)
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    raise ValueError(f"{method} does not fit a {type(key).__name__}")
