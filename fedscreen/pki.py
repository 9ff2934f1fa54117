"""The federation's mutual-TLS PKI: one private CA, server certs for agents, client certs.

The procuratorate (or whoever runs the federation) holds the CA key; every agent and every
coordinator gets a certificate from it, and both sides of a connection require a peer
certificate from that CA. Keys are EC P-256: small, fast and supported by every gRPC build.

Each leaf also carries a DNS SAN equal to its common name, so a coordinator can dial an agent
by IP and still check it is talking to *that* agent (`grpc.ssl_target_name_override=<name>`).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fedscreen.errors import ConfigError

# Certificates issued "now" should already be valid on a peer whose clock is a little behind.
BACKDATE = timedelta(minutes=5)


@dataclass(frozen=True)
class CertBundle:
    cert_pem: bytes
    key_pem: bytes
    ca_pem: bytes


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public: ec.EllipticCurvePublicKey,
    now: datetime,
    valid_for: timedelta,
) -> x509.CertificateBuilder:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (use datetime.now(UTC))")
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now.astimezone(UTC) - BACKDATE)
        .not_valid_after(now.astimezone(UTC) + valid_for)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )


def create_ca(
    common_name: str, *, now: datetime, valid_for: timedelta = timedelta(days=3650)
) -> tuple[bytes, bytes]:
    """A self-signed CA that may sign leaves only (path length 0): (cert PEM, key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    cert = (
        _builder(name, name, key.public_key(), now, valid_for)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def _sans(common_name: str, hosts: Sequence[str]) -> list[x509.GeneralName]:
    sans: list[x509.GeneralName] = []
    for host in (*hosts, common_name):
        try:
            entry: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            entry = x509.DNSName(host)
        if entry not in sans:
            sans.append(entry)
    return sans


def _load_ca(
    ca_cert_pem: bytes, ca_key_pem: bytes
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    try:
        ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
        ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    except ValueError as exc:
        raise ConfigError(f"CA certificate or key is not valid PEM ({exc})") from None
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ConfigError("the CA key is not an EC key (create the CA with create_ca)")
    if ca_key.public_key() != ca_cert.public_key():
        raise ConfigError("the CA key does not belong to the CA certificate")
    return ca_cert, ca_key


def issue_cert(
    ca_cert_pem: bytes,
    ca_key_pem: bytes,
    common_name: str,
    *,
    server: bool,
    client: bool,
    hosts: Sequence[str] = ("localhost", "127.0.0.1"),
    now: datetime,
    valid_for: timedelta = timedelta(days=825),
) -> CertBundle:
    """A leaf certificate for an agent (server), a coordinator (client) or both."""
    if not (server or client):
        raise ConfigError(f"certificate {common_name!r} must be for a server, a client or both")
    ca_cert, ca_key = _load_ca(ca_cert_pem, ca_key_pem)
    key = ec.generate_private_key(ec.SECP256R1())
    usages = [ExtendedKeyUsageOID.SERVER_AUTH] * server + [ExtendedKeyUsageOID.CLIENT_AUTH] * client
    cert = (
        _builder(_name(common_name), ca_cert.subject, key.public_key(), now, valid_for)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectAlternativeName(_sans(common_name, hosts)), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return CertBundle(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key), ca_cert_pem)


def write_cert_bundle(bundle: CertBundle, directory: Path, name: str) -> tuple[Path, Path, Path]:
    """Write name.crt, name.key (owner-only from creation) and ca.crt into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path, ca_path = (
        directory / f"{name}.crt",
        directory / f"{name}.key",
        directory / "ca.crt",
    )
    cert_path.write_bytes(bundle.cert_pem)
    # Open with 0600 so the key is never readable by others, even for an instant.
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(bundle.key_pem)
    os.chmod(key_path, 0o600)  # an existing file keeps its old mode through O_TRUNC
    ca_path.write_bytes(bundle.ca_pem)
    return cert_path, key_path, ca_path
