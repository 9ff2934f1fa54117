"""Mutual TLS is the only way in: wrong CA, no client cert, or a disallowed name are refused."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import pytest

from coordinator.state import COORDINATOR_CN
from fedscreen import pki
from fedscreen.v1 import agent_pb2, agent_pb2_grpc
from tests.integration.conftest import Fed


def _describe(fed: Fed, creds: grpc.ChannelCredentials) -> grpc.RpcError:
    entry = fed.state.agent("t-court")
    options = [("grpc.ssl_target_name_override", entry.name)]
    with grpc.secure_channel(entry.address, creds, options=options) as channel:
        stub = agent_pb2_grpc.AgentStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            stub.Describe(agent_pb2.DescribeRequest(), timeout=5)
    return err.value


def test_a_client_cert_from_another_ca_is_rejected(fed: Fed) -> None:
    now = datetime.now(UTC)
    other_ca, other_key = pki.create_ca("rogue CA", now=now)
    rogue = pki.issue_cert(other_ca, other_key, COORDINATOR_CN, server=False, client=True, now=now)
    creds = grpc.ssl_channel_credentials(
        root_certificates=fed.state.ca_cert.read_bytes(),
        private_key=rogue.key_pem,
        certificate_chain=rogue.cert_pem,
    )
    assert _describe(fed, creds).code() == grpc.StatusCode.UNAVAILABLE


def test_a_client_without_a_certificate_is_rejected(fed: Fed) -> None:
    creds = grpc.ssl_channel_credentials(root_certificates=fed.state.ca_cert.read_bytes())
    assert _describe(fed, creds).code() == grpc.StatusCode.UNAVAILABLE


def test_a_federation_cert_with_a_name_not_allowed_is_denied(fed: Fed) -> None:
    now = datetime.now(UTC)
    ca = fed.state.ca_cert.read_bytes()
    other = pki.issue_cert(
        ca, fed.state.ca_key.read_bytes(), "another-agent", server=False, client=True, now=now
    )
    creds = grpc.ssl_channel_credentials(
        root_certificates=ca, private_key=other.key_pem, certificate_chain=other.cert_pem
    )
    err = _describe(fed, creds)
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "not an allowed client" in (err.details() or "")
