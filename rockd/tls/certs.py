"""Certificates: the self-signed one rockd makes for itself, and the checks on one uploaded
(the key matches, the chain is in order, it is valid now and names something), in words."""

from __future__ import annotations

import ipaddress
import itertools
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psutil
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from rockd.core.errors import BadRequest, Unprocessable
from rockd.core.times import iso

SELF_SIGNED_DAYS = 730
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
PrivateKey = (rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
              | ed448.Ed448PrivateKey)
PRIVATE_KEYS = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey,
                ed448.Ed448PrivateKey)


@dataclass(frozen=True)
class Pair:
    """A certificate chain (leaf first) and its private key, as PEM."""

    chain: bytes
    key: bytes


def host_names() -> list[str]:
    """This machine's DNS names: localhost, the hostname and its fully qualified form."""
    hostname = socket.gethostname()
    names = ["localhost", hostname, socket.getfqdn(hostname)]
    return list(dict.fromkeys(name.lower() for name in names if name))


def host_addresses() -> list[Address]:
    """The loopback addresses and every interface's, but IPv6 link-local ones (which need
    a scope no certificate can carry)."""
    found: list[Address] = [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    for entries in psutil.net_if_addrs().values():
        for entry in entries:
            if entry.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            address = ipaddress.ip_address(entry.address.split("%", 1)[0])
            if not address.is_link_local and address not in found:
                found.append(address)
    return found


def make_self_signed(names: list[str], addresses: list[Address],
                     now: datetime | None = None) -> Pair:
    """An ECDSA P-256 certificate for `names` and `addresses`, valid for two years."""
    now = now or datetime.now(UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[1] if len(names) > 1
                                            else names[0]),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "rockd")])
    alternatives: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    alternatives += [x509.IPAddress(a) for a in addresses]
    cert = (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=SELF_SIGNED_DAYS))
            .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         crl_sign=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            # OpenSSL's strict verification wants both identifiers, even on a self-signed one
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return Pair(cert.public_bytes(serialization.Encoding.PEM),
                key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))


# -- reading and checking ------------------------------------------------------------------------

def _refuse(message: str, field: str, code: str = "invalid_certificate") -> Unprocessable:
    return Unprocessable(message, code=code, detail={"field": field})


def load_chain(pem: bytes) -> list[x509.Certificate]:
    """The certificates of a PEM text, in order; 400 if there are none or one is broken."""
    try:
        chain = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise BadRequest(f"the certificate is not PEM that rockd can read ({exc}); paste the "
                         "'-----BEGIN CERTIFICATE-----' blocks, the server's first",
                         code="invalid_certificate", detail={"field": "cert"}) from None
    return chain


def load_key(pem: bytes) -> PrivateKey:
    """The private key of a PEM text; 400 if it is not one, or is protected by a passphrase."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise BadRequest("the private key is encrypted; upload it without its passphrase",
                         code="invalid_key", detail={"field": "key"}) from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise BadRequest(f"the private key is not PEM that rockd can read ({exc})",
                         code="invalid_key", detail={"field": "key"}) from None
    if not isinstance(key, PRIVATE_KEYS):
        raise BadRequest("the private key must be RSA, ECDSA or EdDSA", code="invalid_key",
                         detail={"field": "key"})
    return key



def _public(value: x509.Certificate | PrivateKey) -> bytes:
    public = value.public_key()
    return public.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)


def check(pair: Pair, now: datetime | None = None) -> list[x509.Certificate]:
    """The chain of `pair` if it can serve: 400 for what is not a certificate or key, 422 in
    words for a key of another certificate, a chain out of order, a certificate not valid now,
    or a server certificate without names."""
    chain, key = load_chain(pair.chain), load_key(pair.key)
    leaf = chain[0]
    if _public(leaf) != _public(key):
        owner = next((n for n, c in enumerate(chain, start=1) if _public(c) == _public(key)),
                     None)
        if owner is not None:
            raise _refuse(f"the chain is not in order: the key is that of certificate {owner} "
                          f"({_common_name(chain[owner - 1])}); put the server's certificate "
                          "first, then each issuer", "cert", "broken_chain")
        raise _refuse("the private key does not belong to the certificate (the first one "
                      "in the chain)", "key", "key_mismatch")
    for number, (cert, issuer) in enumerate(itertools.pairwise(chain), start=1):
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            raise _refuse(f"the chain is not in order: certificate {number} "
                          f"({_common_name(cert)}) is not signed by certificate {number + 1} "
                          f"({_common_name(issuer)}); put the server's certificate first, "
                          "then each issuer", "cert", "broken_chain") from None
    now = now or datetime.now(UTC)
    for number, cert in enumerate(chain, start=1):
        which = "the certificate" if number == 1 else f"certificate {number} of the chain"
        if cert.not_valid_after_utc <= now:
            raise _refuse(f"{which} ({_common_name(cert)}) expired on "
                          f"{iso(cert.not_valid_after_utc)}", "cert", "certificate_expired")
        if cert.not_valid_before_utc > now:
            raise _refuse(f"{which} ({_common_name(cert)}) is not valid before "
                          f"{iso(cert.not_valid_before_utc)}", "cert", "certificate_not_yet_valid")
    if not names(leaf):
        raise _refuse("the certificate names no host (it has no subject alternative names, "
                      "which browsers require)", "cert", "certificate_without_names")
    return chain


def names(cert: x509.Certificate) -> list[str]:
    """The DNS names and IP addresses a certificate is for."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return ([str(n) for n in san.get_values_for_type(x509.DNSName)]
            + [str(a) for a in san.get_values_for_type(x509.IPAddress)])


def _common_name(cert: x509.Certificate) -> str:
    found = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(found[0].value) if found else cert.subject.rfc4514_string() or "no name"


def describe(chain: list[x509.Certificate]) -> dict[str, object]:
    """What /system/tls shows of a chain: its leaf's names, issuer, validity and fingerprint."""
    leaf = chain[0]
    digest = leaf.fingerprint(hashes.SHA256()).hex().upper()
    return {"subject": leaf.subject.rfc4514_string(), "names": names(leaf),
            "issuer": leaf.issuer.rfc4514_string(),
            "not_before": iso(leaf.not_valid_before_utc),
            "not_after": iso(leaf.not_valid_after_utc),
            "self_signed": leaf.issuer == leaf.subject and _signs_itself(leaf),
            "fingerprint": ":".join(digest[i:i + 2] for i in range(0, len(digest), 2)),
            "chain_length": len(chain)}


def _signs_itself(cert: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
