"""gRPC channel and server credentials for the federation's mutual TLS."""

from __future__ import annotations

from pathlib import Path

import grpc

from fedscreen.errors import ConfigError


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        raise ConfigError(f"{what} {path} is not readable") from None


def server_credentials(cert: Path, key: Path, ca: Path) -> grpc.ServerCredentials:
    """Server side: present our cert, and *require* a client cert signed by the federation CA."""
    return grpc.ssl_server_credentials(
        [(_read(key, "TLS key"), _read(cert, "TLS certificate"))],
        root_certificates=_read(ca, "CA certificate"),
        require_client_auth=True,
    )


def channel_credentials(cert: Path, key: Path, ca: Path) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=_read(ca, "CA certificate"),
        private_key=_read(key, "TLS key"),
        certificate_chain=_read(cert, "TLS certificate"),
    )


def channel_options(target_name: str | None = None) -> list[tuple[str, object]]:
    """Channel options: our message ceiling, and the agent's name as the TLS target.

    Agents are addressed by IP:port on a private network; their certificate carries their
    name as a DNS SAN, so we check the name rather than the address.
    """
    opts: list[tuple[str, object]] = [
        ("grpc.max_receive_message_length", 4 << 20),
        ("grpc.max_send_message_length", 32 << 20),
    ]
    if target_name:
        opts.append(("grpc.ssl_target_name_override", target_name))
    return opts
