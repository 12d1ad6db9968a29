"""GOST R 34.10-2012 / 34.11-2012 (and the GOST R 34.11-94 digest) in C, through OpenSSL.

Debian's ``libengine-gost-openssl`` gives the system OpenSSL 3 a ``gost`` engine. This module
binds it with ctypes: it loads the engine once, hands it explicitly to every digest, key and
signature call, and registers only its GOST key/digest methods for look-ups by OID (what
``d2i_X509``/``d2i_PUBKEY`` need to decode GOST keys). The engine is never made the default
for anything, so RSA, ECDSA and Python's ``ssl`` keep using OpenSSL's own providers.

Byte order: ``EVP_DigestSign`` with the engine gives the 64 (128) octet ``s || r`` big-endian
form of RFC 4491, which is also what XML-DSig's ``SignatureValue`` carries for the cpxmlsec
URIs (CryptoPro, xmlsec) and what the X.509 signature BIT STRING holds.

Nothing here is pure Python cryptography: when the engine is not installed, :func:`backend`
raises :class:`GostUnavailable` whose message says what the server lacks.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

_c = ctypes
_P = ctypes.c_void_p

PACKAGE_HINT = (
    "the gost engine for OpenSSL 3 (Debian package libengine-gost-openssl; "
    "./scripts/serve and ./scripts/test install it when run as root)"
)


class GostUnavailable(RuntimeError):
    """GOST algorithms cannot be used on this server; the message says why."""


class GostKeyAlgorithm(StrEnum):
    """GOST public-key algorithms by their OID (RFC 9215 / TC 26)."""

    GOST2012_256 = "1.2.643.7.1.1.1.1"
    GOST2012_512 = "1.2.643.7.1.1.1.2"
    GOST2001 = "1.2.643.2.2.19"  # GOST R 34.10-2001: withdrawn, refused

    @property
    def engine_name(self) -> str:
        return {
            GostKeyAlgorithm.GOST2012_256: "gost2012_256",
            GostKeyAlgorithm.GOST2012_512: "gost2012_512",
            GostKeyAlgorithm.GOST2001: "gost2001",
        }[self]


class GostDigest(StrEnum):
    """GOST hash functions by OID."""

    STREEBOG_256 = "1.2.643.7.1.1.2.2"  # GOST R 34.11-2012, 256 bit
    STREEBOG_512 = "1.2.643.7.1.1.2.3"  # GOST R 34.11-2012, 512 bit
    GOSTR3411_94 = "1.2.643.2.2.9"  # GOST R 34.11-94, CryptoPro parameters


#: Signature algorithm OIDs of certificates: (key algorithm, digest).
CERT_SIGNATURE_ALGORITHMS: dict[str, tuple[GostKeyAlgorithm, GostDigest]] = {
    "1.2.643.7.1.1.3.2": (GostKeyAlgorithm.GOST2012_256, GostDigest.STREEBOG_256),
    "1.2.643.7.1.1.3.3": (GostKeyAlgorithm.GOST2012_512, GostDigest.STREEBOG_512),
    "1.2.643.2.2.3": (GostKeyAlgorithm.GOST2001, GostDigest.GOSTR3411_94),
}

#: Parameter sets a test stand may generate keys with (engine's ``paramset`` names).
PARAMSETS: dict[GostKeyAlgorithm, tuple[str, ...]] = {
    GostKeyAlgorithm.GOST2012_256: ("A", "B", "C", "D", "XA", "XB", "TCA", "TCB", "TCC", "TCD"),
    GostKeyAlgorithm.GOST2012_512: ("A", "B", "C"),
}

_KEY_CACHE_SIZE = 1024


def _bind(lib: ctypes.CDLL) -> None:
    """Declare the prototypes of every libcrypto function used here."""
    protos: dict[str, tuple[Any, list[Any]]] = {
        "ENGINE_by_id": (_P, [_c.c_char_p]),
        "ENGINE_init": (_c.c_int, [_P]),
        "ENGINE_free": (_c.c_int, [_P]),
        "ENGINE_register_pkey_asn1_meths": (_c.c_int, [_P]),
        "ENGINE_register_pkey_meths": (_c.c_int, [_P]),
        "ENGINE_register_digests": (_c.c_int, [_P]),
        "ENGINE_get_digest": (_P, [_P, _c.c_int]),
        "OBJ_txt2nid": (_c.c_int, [_c.c_char_p]),
        "OBJ_nid2sn": (_c.c_char_p, [_c.c_int]),
        "OBJ_obj2txt": (_c.c_int, [_c.c_char_p, _c.c_int, _P, _c.c_int]),
        "ERR_clear_error": (None, []),
        "ERR_get_error": (_c.c_ulong, []),
        "ERR_error_string_n": (None, [_c.c_ulong, _c.c_char_p, _c.c_size_t]),
        "EVP_Digest": (
            _c.c_int,
            [_c.c_char_p, _c.c_size_t, _c.c_char_p, _c.POINTER(_c.c_uint), _P, _P],
        ),
        "EVP_MD_get_size": (_c.c_int, [_P]),
        "EVP_MD_CTX_new": (_P, []),
        "EVP_MD_CTX_free": (None, [_P]),
        "EVP_DigestVerifyInit": (_c.c_int, [_P, _P, _P, _P, _P]),
        "EVP_DigestVerify": (
            _c.c_int,
            [_P, _c.c_char_p, _c.c_size_t, _c.c_char_p, _c.c_size_t],
        ),
        "EVP_DigestSignInit": (_c.c_int, [_P, _P, _P, _P, _P]),
        "EVP_DigestSign": (
            _c.c_int,
            [_P, _c.c_char_p, _c.POINTER(_c.c_size_t), _c.c_char_p, _c.c_size_t],
        ),
        "EVP_PKEY_free": (None, [_P]),
        "EVP_PKEY_up_ref": (_c.c_int, [_P]),
        "EVP_PKEY_get_id": (_c.c_int, [_P]),
        "EVP_PKEY_get_bits": (_c.c_int, [_P]),
        "EVP_PKEY_CTX_new_id": (_P, [_c.c_int, _P]),
        "EVP_PKEY_CTX_new": (_P, [_P, _P]),
        "EVP_PKEY_verify_init": (_c.c_int, [_P]),
        "EVP_PKEY_verify": (
            _c.c_int,
            [_P, _c.c_char_p, _c.c_size_t, _c.c_char_p, _c.c_size_t],
        ),
        "EVP_PKEY_CTX_free": (None, [_P]),
        "EVP_PKEY_keygen_init": (_c.c_int, [_P]),
        "EVP_PKEY_keygen": (_c.c_int, [_P, _c.POINTER(_P)]),
        "EVP_PKEY_CTX_ctrl_str": (_c.c_int, [_P, _c.c_char_p, _c.c_char_p]),
        "d2i_PUBKEY": (_P, [_P, _c.POINTER(_c.c_char_p), _c.c_long]),
        "i2d_PUBKEY": (_c.c_int, [_P, _c.POINTER(_P)]),
        "d2i_X509": (_P, [_P, _c.POINTER(_c.c_char_p), _c.c_long]),
        "i2d_X509": (_c.c_int, [_P, _c.POINTER(_P)]),
        "X509_free": (None, [_P]),
        "X509_get0_pubkey": (_P, [_P]),
        "X509_verify": (_c.c_int, [_P, _P]),
        "EVP_PKEY2PKCS8": (_P, [_P]),
        "EVP_PKCS82PKEY": (_P, [_P]),
        "PKCS8_PRIV_KEY_INFO_free": (None, [_P]),
        "i2d_PKCS8_PRIV_KEY_INFO": (_c.c_int, [_P, _c.POINTER(_P)]),
        "d2i_PKCS8_PRIV_KEY_INFO": (_P, [_P, _c.POINTER(_c.c_char_p), _c.c_long]),
        "CRYPTO_free": (None, [_P, _c.c_char_p, _c.c_int]),
        "X509_new": (_P, []),
        "X509_set_version": (_c.c_int, [_P, _c.c_long]),
        "X509_get_serialNumber": (_P, [_P]),
        "BN_bin2bn": (_P, [_c.c_char_p, _c.c_int, _P]),
        "BN_free": (None, [_P]),
        "BN_to_ASN1_INTEGER": (_P, [_P, _P]),
        "X509_NAME_new": (_P, []),
        "X509_NAME_free": (None, [_P]),
        "X509_NAME_add_entry_by_txt": (
            _c.c_int,
            [_P, _c.c_char_p, _c.c_int, _c.c_char_p, _c.c_int, _c.c_int, _c.c_int],
        ),
        "d2i_X509_NAME": (_P, [_P, _c.POINTER(_c.c_char_p), _c.c_long]),
        "X509_set_subject_name": (_c.c_int, [_P, _P]),
        "X509_set_issuer_name": (_c.c_int, [_P, _P]),
        "X509_getm_notBefore": (_P, [_P]),
        "X509_getm_notAfter": (_P, [_P]),
        "ASN1_TIME_set": (_P, [_P, _c.c_int64]),
        "X509_set_pubkey": (_c.c_int, [_P, _P]),
        "X509V3_set_ctx": (None, [_P, _P, _P, _P, _P, _c.c_int]),
        "X509V3_EXT_conf_nid": (_P, [_P, _P, _c.c_int, _c.c_char_p]),
        "X509_add_ext": (_c.c_int, [_P, _P, _c.c_int]),
        "X509_EXTENSION_free": (None, [_P]),
        "X509_sign": (_c.c_int, [_P, _P, _P]),
    }
    for name, (restype, argtypes) in protos.items():
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes


def _load_libcrypto() -> ctypes.CDLL:
    for name in ("libcrypto.so.3", ctypes.util.find_library("crypto")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            _bind(lib)
            return lib
        except (OSError, AttributeError):
            continue
    raise GostUnavailable(f"GOST needs OpenSSL 3's libcrypto.so.3 and {PACKAGE_HINT}")


class PublicKey:
    """A GOST public key held by OpenSSL (an ``EVP_PKEY*``); freed with the object."""

    def __init__(self, backend: GostBackend, pointer: int, algorithm: GostKeyAlgorithm) -> None:
        self._backend = backend
        self._pointer = pointer
        self.algorithm = algorithm

    @property
    def pointer(self) -> int:
        return self._pointer

    def __del__(self) -> None:
        if getattr(self, "_pointer", None):
            self._backend.lib.EVP_PKEY_free(self._pointer)
            self._pointer = 0

    @property
    def key_size(self) -> int:
        """256 or 512 (the size of the key, not of the signature)."""
        return 512 if self.algorithm is GostKeyAlgorithm.GOST2012_512 else 256

    def subject_public_key_info(self) -> bytes:
        """DER SubjectPublicKeyInfo of the key."""
        return self._backend._i2d(self._backend.lib.i2d_PUBKEY, self._pointer)

    def verify(self, digest: GostDigest, data: bytes, signature: bytes) -> bool:
        """True when ``signature`` (``s || r``) signs ``data`` hashed with ``digest``."""
        return self._backend.verify(self, digest, data, signature)


class PrivateKey(PublicKey):
    """A GOST private key held by OpenSSL; ``public_key()`` gives its public half."""

    def public_key(self) -> PublicKey:
        spki = self.subject_public_key_info()
        return self._backend.load_public_key(spki)

    def sign(self, digest: GostDigest, data: bytes) -> bytes:
        """``s || r`` signature of ``data`` hashed with ``digest``."""
        return self._backend.sign(self, digest, data)

    def private_bytes_pem(self) -> bytes:
        """Unencrypted PKCS#8 PEM (``-----BEGIN PRIVATE KEY-----``)."""
        return self._backend.private_key_pem(self)


@dataclass(frozen=True)
class CertificateSpec:
    """What :meth:`GostBackend.build_certificate` writes into a certificate."""

    subject_der: bytes  # DER X.509 Name
    issuer_der: bytes
    serial: int
    not_before: int  # POSIX seconds
    not_after: int
    extensions: tuple[tuple[str, str], ...]  # (OpenSSL extension name, config value)


class GostBackend:
    """The loaded engine and libcrypto; one per process, thread-safe."""

    def __init__(self) -> None:
        self.lib = _load_libcrypto()
        engine = self.lib.ENGINE_by_id(b"gost")
        if not engine:
            self.lib.ERR_clear_error()
            raise GostUnavailable(f"GOST algorithms need {PACKAGE_HINT}, which this server lacks")
        if self.lib.ENGINE_init(engine) != 1:
            self.lib.ERR_clear_error()
            raise GostUnavailable("the OpenSSL gost engine is installed but does not initialise")
        # For look-ups by OID only (decoding GOST keys/certificates); not made a default.
        for register in (
            self.lib.ENGINE_register_pkey_asn1_meths,
            self.lib.ENGINE_register_pkey_meths,
            self.lib.ENGINE_register_digests,
        ):
            register(engine)
        self.engine = engine
        self._digests = {digest: self._md(digest) for digest in GostDigest}
        self._keys: OrderedDict[bytes, PublicKey] = OrderedDict()
        self._keys_lock = threading.Lock()

    # --- errors -------------------------------------------------------------------------

    def _error(self, what: str) -> RuntimeError:
        code = self.lib.ERR_get_error()
        self.lib.ERR_clear_error()
        if not code:
            return RuntimeError(what)
        buffer = ctypes.create_string_buffer(256)
        self.lib.ERR_error_string_n(code, buffer, len(buffer))
        return RuntimeError(f"{what}: {buffer.value.decode(errors='replace')}")

    def _nid(self, oid: str) -> int:
        nid = self.lib.OBJ_txt2nid(oid.encode())
        if nid <= 0:
            raise GostUnavailable(f"OpenSSL does not know the OID {oid}")
        return int(nid)

    def _md(self, digest: GostDigest) -> int:
        md = self.lib.ENGINE_get_digest(self.engine, self._nid(digest))
        if not md:
            raise GostUnavailable(f"the gost engine lacks the digest {digest.name}")
        return int(md)

    def _i2d(self, function: Any, pointer: int) -> bytes:
        out = _P()
        size = function(pointer, ctypes.byref(out))
        if size <= 0 or not out.value:
            raise self._error("DER encoding failed")
        try:
            return ctypes.string_at(out.value, size)
        finally:
            self.lib.CRYPTO_free(out, b"signing/gost.py", 0)

    # --- digests ------------------------------------------------------------------------

    def digest(self, digest: GostDigest, data: bytes) -> bytes:
        """GOST hash of ``data`` (byte order as the openssl command line prints it)."""
        out = ctypes.create_string_buffer(64)
        size = ctypes.c_uint(0)
        if not self.lib.EVP_Digest(
            data, len(data), out, ctypes.byref(size), self._digests[digest], self.engine
        ):
            raise self._error(f"{digest.name} failed")
        return out.raw[: size.value]

    # --- keys ---------------------------------------------------------------------------

    def _algorithm_of(self, pkey: int) -> GostKeyAlgorithm:
        nid = self.lib.EVP_PKEY_get_id(pkey)
        for algorithm in GostKeyAlgorithm:
            if nid == self._nid(algorithm):
                return algorithm
        raise ValueError(f"not a GOST key (OpenSSL key type {nid})")

    def load_public_key(self, spki_der: bytes) -> PublicKey:
        """A GOST public key from DER SubjectPublicKeyInfo; cached per key."""
        with self._keys_lock:
            cached = self._keys.get(spki_der)
            if cached is not None:
                self._keys.move_to_end(spki_der)
                return cached
        data = ctypes.c_char_p(spki_der)
        pkey = self.lib.d2i_PUBKEY(None, ctypes.byref(data), len(spki_der))
        if not pkey:
            raise ValueError(f"not a readable GOST public key ({self._error('d2i_PUBKEY')})")
        try:
            key = PublicKey(self, pkey, self._algorithm_of(pkey))
        except ValueError:
            self.lib.EVP_PKEY_free(pkey)
            raise
        self._remember(spki_der, key)
        return key

    def generate_key(self, algorithm: GostKeyAlgorithm, paramset: str = "A") -> PrivateKey:
        """A new GOST R 34.10-2012 key with the engine's ``paramset`` (A, B, C, XA, …)."""
        if algorithm not in PARAMSETS or paramset not in PARAMSETS[algorithm]:
            raise ValueError(f"no {paramset!r} parameter set for {algorithm.name}")
        ctx = self.lib.EVP_PKEY_CTX_new_id(self._nid(algorithm), self.engine)
        if not ctx:
            raise self._error("EVP_PKEY_CTX_new_id")
        try:
            pkey = _P()
            if (
                self.lib.EVP_PKEY_keygen_init(ctx) <= 0
                or self.lib.EVP_PKEY_CTX_ctrl_str(ctx, b"paramset", paramset.encode()) <= 0
                or self.lib.EVP_PKEY_keygen(ctx, ctypes.byref(pkey)) <= 0
            ):
                raise self._error("GOST key generation failed")
        finally:
            self.lib.EVP_PKEY_CTX_free(ctx)
        return PrivateKey(self, int(pkey.value or 0), algorithm)

    def private_key_pem(self, key: PrivateKey) -> bytes:
        info = self.lib.EVP_PKEY2PKCS8(key.pointer)
        if not info:
            raise self._error("EVP_PKEY2PKCS8")
        try:
            der = self._i2d(self.lib.i2d_PKCS8_PRIV_KEY_INFO, info)
        finally:
            self.lib.PKCS8_PRIV_KEY_INFO_free(info)
        return _pem("PRIVATE KEY", der)

    def load_private_key(self, der: bytes) -> PrivateKey:
        """A GOST private key from unencrypted PKCS#8 DER."""
        data = ctypes.c_char_p(der)
        info = self.lib.d2i_PKCS8_PRIV_KEY_INFO(None, ctypes.byref(data), len(der))
        if not info:
            raise ValueError(f"not a PKCS#8 private key ({self._error('d2i_PKCS8')})")
        try:
            pkey = self.lib.EVP_PKCS82PKEY(info)
        finally:
            self.lib.PKCS8_PRIV_KEY_INFO_free(info)
        if not pkey:
            raise ValueError(f"not a readable GOST private key ({self._error('EVP_PKCS82PKEY')})")
        try:
            return PrivateKey(self, pkey, self._algorithm_of(pkey))
        except ValueError:
            self.lib.EVP_PKEY_free(pkey)
            raise

    # --- signatures ---------------------------------------------------------------------

    def verify(self, key: PublicKey, digest: GostDigest, data: bytes, signature: bytes) -> bool:
        """True when ``signature`` is a valid GOST signature of ``data``."""
        ctx = self.lib.EVP_MD_CTX_new()
        if not ctx:
            raise MemoryError("EVP_MD_CTX_new")
        self.lib.EVP_PKEY_up_ref(key.pointer)  # the cache may drop its reference meanwhile
        try:
            if (
                self.lib.EVP_DigestVerifyInit(
                    ctx, None, self._digests[digest], self.engine, key.pointer
                )
                != 1
            ):
                raise self._error("EVP_DigestVerifyInit")
            result = self.lib.EVP_DigestVerify(ctx, signature, len(signature), data, len(data))
            if result != 1:
                self.lib.ERR_clear_error()
            return bool(result == 1)
        finally:
            self.lib.EVP_MD_CTX_free(ctx)
            self.lib.EVP_PKEY_free(key.pointer)

    def verify_hash(self, key: PublicKey, hash_value: bytes, signature: bytes) -> bool:
        """Verify a signature of an already computed hash (the engine reads it little-endian,
        as GOST R 34.10 interprets the hash). For the standard's worked examples."""
        ctx = self.lib.EVP_PKEY_CTX_new(key.pointer, self.engine)
        if not ctx:
            raise self._error("EVP_PKEY_CTX_new")
        try:
            if self.lib.EVP_PKEY_verify_init(ctx) != 1:
                raise self._error("EVP_PKEY_verify_init")
            ok = self.lib.EVP_PKEY_verify(
                ctx, signature, len(signature), hash_value, len(hash_value)
            )
            self.lib.ERR_clear_error()
            return bool(ok == 1)
        finally:
            self.lib.EVP_PKEY_CTX_free(ctx)

    def sign(self, key: PrivateKey, digest: GostDigest, data: bytes) -> bytes:
        ctx = self.lib.EVP_MD_CTX_new()
        if not ctx:
            raise MemoryError("EVP_MD_CTX_new")
        try:
            if (
                self.lib.EVP_DigestSignInit(
                    ctx, None, self._digests[digest], self.engine, key.pointer
                )
                != 1
            ):
                raise self._error("EVP_DigestSignInit")
            size = ctypes.c_size_t(0)
            if self.lib.EVP_DigestSign(ctx, None, ctypes.byref(size), data, len(data)) != 1:
                raise self._error("EVP_DigestSign")
            out = ctypes.create_string_buffer(size.value)
            if self.lib.EVP_DigestSign(ctx, out, ctypes.byref(size), data, len(data)) != 1:
                raise self._error("EVP_DigestSign")
            return out.raw[: size.value]
        finally:
            self.lib.EVP_MD_CTX_free(ctx)

    # --- certificates -------------------------------------------------------------------

    def _x509(self, der: bytes) -> int:
        data = ctypes.c_char_p(der)
        cert = self.lib.d2i_X509(None, ctypes.byref(data), len(der))
        if not cert:
            raise ValueError(f"not a DER certificate ({self._error('d2i_X509')})")
        return int(cert)

    def certificate_public_key(self, cert_der: bytes) -> PublicKey:
        """The GOST public key of a DER certificate; cached per certificate."""
        with self._keys_lock:
            cached = self._keys.get(cert_der)
            if cached is not None:
                self._keys.move_to_end(cert_der)
                return cached
        cert = self._x509(cert_der)
        try:
            pkey = self.lib.X509_get0_pubkey(cert)
            if not pkey:
                raise ValueError(f"unreadable certificate key ({self._error('X509_get0_pubkey')})")
            self.lib.EVP_PKEY_up_ref(pkey)
        finally:
            self.lib.X509_free(cert)
        try:
            key = PublicKey(self, pkey, self._algorithm_of(pkey))
        except ValueError:
            self.lib.EVP_PKEY_free(pkey)
            raise
        self._remember(cert_der, key)
        return key

    def _remember(self, der: bytes, key: PublicKey) -> None:
        with self._keys_lock:
            self._keys[der] = key
            while len(self._keys) > _KEY_CACHE_SIZE:
                self._keys.popitem(last=False)

    def certificate_signed_by(self, cert_der: bytes, issuer_der: bytes) -> bool:
        """True when ``cert_der``'s signature verifies with ``issuer_der``'s GOST key."""
        cert = self._x509(cert_der)
        try:
            issuer = self._x509(issuer_der)
        except ValueError:
            self.lib.X509_free(cert)
            raise
        try:
            key = self.lib.X509_get0_pubkey(issuer)
            if not key:
                self.lib.ERR_clear_error()
                return False
            ok = bool(self.lib.X509_verify(cert, key) == 1)
            self.lib.ERR_clear_error()
            return ok
        finally:
            self.lib.X509_free(cert)
            self.lib.X509_free(issuer)

    def build_certificate(
        self,
        spec: CertificateSpec,
        public_key: PublicKey,
        issuer_key: PrivateKey,
        issuer_cert_der: bytes | None,
    ) -> bytes:
        """DER certificate for ``public_key`` signed by ``issuer_key`` (Streebog of its size)."""
        cert = self.lib.X509_new()
        issuer = self._x509(issuer_cert_der) if issuer_cert_der else None
        try:
            ok = self.lib.X509_set_version(cert, 2) == 1
            serial = spec.serial.to_bytes((spec.serial.bit_length() + 7) // 8 or 1, "big")
            bn = self.lib.BN_bin2bn(serial, len(serial), None)
            ok = ok and bool(self.lib.BN_to_ASN1_INTEGER(bn, self.lib.X509_get_serialNumber(cert)))
            self.lib.BN_free(bn)
            for setter, der in (
                (self.lib.X509_set_subject_name, spec.subject_der),
                (self.lib.X509_set_issuer_name, spec.issuer_der),
            ):
                data = ctypes.c_char_p(der)
                name = self.lib.d2i_X509_NAME(None, ctypes.byref(data), len(der))
                ok = ok and bool(name) and setter(cert, name) == 1
                self.lib.X509_NAME_free(name)
            ok = ok and bool(
                self.lib.ASN1_TIME_set(self.lib.X509_getm_notBefore(cert), spec.not_before)
            )
            ok = ok and bool(
                self.lib.ASN1_TIME_set(self.lib.X509_getm_notAfter(cert), spec.not_after)
            )
            ok = ok and self.lib.X509_set_pubkey(cert, public_key.pointer) == 1
            if not ok:
                raise self._error("building the certificate failed")
            ctx = ctypes.create_string_buffer(1024)  # X509V3_CTX, opaque; generously sized
            self.lib.X509V3_set_ctx(ctx, issuer or cert, cert, None, None, 0)
            for name, value in spec.extensions:
                extension = self.lib.X509V3_EXT_conf_nid(
                    None, ctx, self.lib.OBJ_txt2nid(name.encode()), value.encode()
                )
                if not extension:
                    raise self._error(f"extension {name}={value}")
                added = self.lib.X509_add_ext(cert, extension, -1)
                self.lib.X509_EXTENSION_free(extension)
                if added != 1:
                    raise self._error(f"extension {name}")
            digest = (
                GostDigest.STREEBOG_512
                if issuer_key.algorithm is GostKeyAlgorithm.GOST2012_512
                else GostDigest.STREEBOG_256
            )
            if self.lib.X509_sign(cert, issuer_key.pointer, self._digests[digest]) <= 0:
                raise self._error("X509_sign")
            return self._i2d(self.lib.i2d_X509, cert)
        finally:
            self.lib.X509_free(cert)
            if issuer:
                self.lib.X509_free(issuer)


def _pem(label: str, der: bytes) -> bytes:
    import base64

    body = base64.encodebytes(der).decode("ascii").replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return (f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n").encode()


_backend: GostBackend | None = None
_backend_error: GostUnavailable | None = None
_backend_lock = threading.Lock()


def backend() -> GostBackend:
    """The process's GOST backend, loaded on first use; raises :class:`GostUnavailable`."""
    global _backend, _backend_error
    if _backend is not None:
        return _backend
    with _backend_lock:
        if _backend is None and _backend_error is None:
            if os.environ.get("GATEWAY_DISABLE_GOST") == "1":  # to test the refusal path
                _backend_error = GostUnavailable(
                    f"GOST is disabled on this server (GATEWAY_DISABLE_GOST=1); it needs {PACKAGE_HINT}"
                )
            else:
                try:
                    _backend = GostBackend()
                except GostUnavailable as exc:
                    _backend_error = exc
        if _backend is None:
            assert _backend_error is not None
            raise _backend_error
        return _backend


def available() -> bool:
    """True when GOST algorithms can be used in this process."""
    try:
        backend()
    except GostUnavailable:
        return False
    return True


def unavailable_reason() -> str | None:
    """Why GOST cannot be used here, or None."""
    try:
        backend()
    except GostUnavailable as exc:
        return str(exc)
    return None
