"""The federation PKI: certificates chain to our CA, carry the right SANs and usages."""

from __future__ import annotations

import ipaddress
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from fedscreen.errors import ConfigError
from fedscreen.pki import create_ca, issue_cert, write_cert_bundle

NOW = datetime(2025, 3, 1, 8, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def ca() -> tuple[bytes, bytes]:
    return create_ca("fedscreen test CA", now=NOW)


def load(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def test_server_cert_verifies_against_our_ca_for_its_hosts(ca: tuple[bytes, bytes]) -> None:
    server = issue_cert(*ca, "agent-court", server=True, client=False, now=NOW)
    store = Store([load(ca[0])])
    at = NOW + timedelta(days=1)
    for name in ("localhost", "agent-court"):
        verifier = PolicyBuilder().store(store).time(at).build_server_verifier(x509.DNSName(name))
        chain = verifier.verify(load(server.cert_pem), [])
        assert chain[-1] == load(ca[0])
    by_ip = x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
    PolicyBuilder().store(store).time(at).build_server_verifier(by_ip).verify(
        load(server.cert_pem), []
    )
    assert server.ca_pem == ca[0]


def test_sans_include_hosts_and_the_common_name(ca: tuple[bytes, bytes]) -> None:
    server = issue_cert(
        *ca, "agent-court", server=True, client=False, now=NOW, hosts=("court.example", "10.0.0.7")
    )
    sans = load(server.cert_pem).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert sans.value.get_values_for_type(x509.DNSName) == ["court.example", "agent-court"]
    assert sans.value.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.7")]


def test_usages_follow_the_role(ca: tuple[bytes, bytes]) -> None:
    client = issue_cert(*ca, "coordinator", server=False, client=True, now=NOW)
    cert = load(client.cert_pem)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    both = load(issue_cert(*ca, "x", server=True, client=True, now=NOW).cert_pem)
    eku = both.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}


def test_client_cert_verifies_against_our_ca(ca: tuple[bytes, bytes]) -> None:
    client = issue_cert(*ca, "coordinator", server=False, client=True, now=NOW)
    store = Store([load(ca[0])])
    verifier = PolicyBuilder().store(store).time(NOW).build_client_verifier()
    verified = verifier.verify(load(client.cert_pem), [])
    assert verified.chain[-1] == load(ca[0])


def test_client_cert_from_another_ca_does_not_verify(ca: tuple[bytes, bytes]) -> None:
    other_ca = create_ca("someone else's CA", now=NOW)
    stranger = issue_cert(*other_ca, "coordinator", server=False, client=True, now=NOW)
    verifier = PolicyBuilder().store(Store([load(ca[0])])).time(NOW).build_client_verifier()
    with pytest.raises(VerificationError):
        verifier.verify(load(stranger.cert_pem), [])


def test_cert_for_neither_role_is_refused(ca: tuple[bytes, bytes]) -> None:
    with pytest.raises(ConfigError, match="server, a client or both"):
        issue_cert(*ca, "nobody", server=False, client=False, now=NOW)


def test_mismatched_ca_key_is_refused(ca: tuple[bytes, bytes]) -> None:
    other_cert, other_key = create_ca("other", now=NOW)
    with pytest.raises(ConfigError, match="does not belong"):
        issue_cert(ca[0], other_key, "x", server=True, client=False, now=NOW)


def test_name_and_expiry_are_readable(ca: tuple[bytes, bytes]) -> None:
    server = issue_cert(
        *ca, "agent-tax", server=True, client=False, now=NOW, valid_for=timedelta(days=30)
    )
    cert = load(server.cert_pem)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "agent-tax"
    assert cert.not_valid_after_utc == NOW + timedelta(days=30)


def test_written_key_is_owner_only(ca: tuple[bytes, bytes], tmp_path: Path) -> None:
    server = issue_cert(*ca, "agent-court", server=True, client=False, now=NOW)
    cert_path, key_path, ca_path = write_cert_bundle(server, tmp_path / "tls", "agent-court")
    assert (cert_path.name, key_path.name, ca_path.name) == (
        "agent-court.crt",
        "agent-court.key",
        "ca.crt",
    )
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert key_path.read_bytes() == server.key_pem
    assert ca_path.read_bytes() == ca[0]
