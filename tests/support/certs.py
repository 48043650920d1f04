"""A test certificate authority (root and intermediate) that issues server certificates, and a
TLS client that answers the certificate a server presents."""

from __future__ import annotations

import ipaddress
import socket
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _issue(name: str, key: ec.EllipticCurvePrivateKey,
           issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None, *, ca: bool,
           names: list[str] = (), days: tuple[int, int] = (-1, 365)) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(issuer[0].subject if issuer else subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now + timedelta(days=days[0]))
               .not_valid_after(now + timedelta(days=days[1]))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                              critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   (issuer[1] if issuer else key).public_key()), critical=False))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [_general(n) for n in names]), critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def _general(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


class Authority:
    """A root and an intermediate; `issue` makes a server certificate signed by the latter."""

    def __init__(self, name: str = "rockd test"):
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = _issue(f"{name} root", self.root_key, None, ca=True)
        self.mid_key = ec.generate_private_key(ec.SECP256R1())
        self.mid = _issue(f"{name} intermediate", self.mid_key, (self.root, self.root_key),
                          ca=True)

    @property
    def root_pem(self) -> str:
        return _pem(self.root)

    @property
    def mid_pem(self) -> str:
        return _pem(self.mid)

    def issue(self, names: list[str], days: tuple[int, int] = (-1, 90),
              ) -> tuple[str, str, x509.Certificate]:
        """A server certificate for `names`: its PEM, its key's PEM, and the certificate."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue(names[0], key, (self.mid, self.mid_key), ca=False, names=names,
                      days=days)
        return _pem(cert), key_pem(key), cert


def presented(port: int, cafile: Path | None = None, name: str = "127.0.0.1") -> bytes:
    """The DER certificate the server on 127.0.0.1:`port` presents; verified against `cafile`
    (and `name`) when one is given."""
    if cafile is None:
        context = ssl._create_unverified_context()
    else:
        context = ssl.create_default_context(cafile=str(cafile))
        context.verify_flags |= ssl.VERIFY_X509_STRICT  # as Python 3.13 verifies by default
    with (socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
          context.wrap_socket(raw, server_hostname=name) as tls):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


def fingerprint(der: bytes) -> str:
    """As rockd writes it: SHA-256, upper-case hex pairs joined by colons."""
    digest = x509.load_der_x509_certificate(der).fingerprint(hashes.SHA256()).hex().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))
