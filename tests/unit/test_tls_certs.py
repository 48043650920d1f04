"""The certificate checks of rockd.tls.certs that the process tests do not reach: a leaf with no
names, one not valid yet, a key under a passphrase, and the self-signed certificate's names."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from rockd.core.errors import RockdError
from rockd.tls.certs import Pair, check, describe, make_self_signed
from tests.support.certs import Authority, key_pem


def _refusal(pair: Pair) -> tuple[int, str, str]:
    with pytest.raises(RockdError) as caught:
        check(pair)
    error = caught.value
    return error.status, error.code, error.detail["field"]


def test_a_leaf_without_names_is_refused():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nameless")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=9))
            .sign(key, hashes.SHA256()))
    pair = Pair(cert.public_bytes(serialization.Encoding.PEM), key_pem(key).encode())
    assert _refusal(pair) == (422, "certificate_without_names", "cert")


def test_a_certificate_not_valid_yet_is_refused():
    leaf, key, _ = Authority().issue(["later.example.test"], days=(3, 30))
    assert _refusal(Pair(leaf.encode(), key.encode())) == (422, "certificate_not_yet_valid",
                                                           "cert")


def test_a_key_under_a_passphrase_is_refused_in_words():
    leaf, _, _ = Authority().issue(["nas.example.test"])
    locked = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"))
    with pytest.raises(RockdError, match="encrypted") as caught:
        check(Pair(leaf.encode(), locked))
    assert (caught.value.status, caught.value.detail["field"]) == (400, "key")


def test_self_signed_names_its_hosts_and_addresses_and_lasts_two_years():
    pair = make_self_signed(["localhost", "nas", "nas.example.test"],
                            [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("fd00::2")])
    chain = check(pair)
    info = describe(chain)
    assert info["names"] == ["localhost", "nas", "nas.example.test", "127.0.0.1", "fd00::2"]
    assert info["self_signed"] is True and info["subject"].startswith("O=rockd,CN=nas")
    lasts = chain[0].not_valid_after_utc - datetime.now(UTC)
    assert timedelta(days=729) < lasts <= timedelta(days=730)
