"""Every byte an agent sends carries no raw identifier, case number or name.

Agents run with --insecure-dev behind a recording TCP proxy so the capture is the plaintext
HTTP/2 stream — exactly what TLS would otherwise encrypt. A positive control checks the
capture does contain the planted plaintiffs' tokens, so an empty or garbled capture can't pass.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import polars as pl
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from coordinator import synth
from fedscreen import wire
from fedscreen.identifiers import normalise
from fedscreen.tokens import TokenKeys, reference_token
from fedscreen.v1 import agent_pb2, agent_pb2_grpc
from tests.integration.conftest import MODEL, Fed


class RecordingProxy:
    """Forward one TCP port to another; record what flows back from the upstream."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.received = bytearray()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, record: bool) -> None:
        try:
            while chunk := src.recv(65536):
                if record:
                    with self.lock:
                        self.received += chunk
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()


def _plaintext_agent(fed: Fed, role: str) -> tuple[subprocess.Popen[str], str]:
    text = fed.configs[role].read_text("utf-8")
    plain = re.sub(r"\[tls\].*?\n\n", "", text, flags=re.S)
    config = fed.configs[role].with_name("agent-plain.toml")
    config.write_text(plain.replace('state_dir = "state"', 'state_dir = "state-plain"'), "utf-8")
    (config.parent / "state-plain").mkdir(exist_ok=True)
    (config.parent / "state-plain" / "approvals.json").write_text(
        (config.parent / "state" / "approvals.json").read_text()
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", "serve", "--insecure-dev", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"listening on (\S+)", line)
    assert match, line
    return proc, match.group(1)


def _wait_serving(channel: grpc.Channel) -> None:
    grpc.channel_ready_future(channel).result(timeout=30)
    stub = health_pb2_grpc.HealthStub(channel)
    deadline = time.monotonic() + 30
    while stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status != 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.fixture(scope="module")
def capture(fed: Fed) -> Iterator[tuple[bytes, list[str]]]:
    received = bytearray()
    tokens: list[str] = []
    for role in fed.verified.manifest.roles:
        proc, address = _plaintext_agent(fed, role.name)
        proxy = RecordingProxy(address)
        try:
            with grpc.insecure_channel(proxy.address) as channel:
                _wait_serving(channel)
                stub = agent_pb2_grpc.AgentStub(channel)
                stub.Describe(agent_pb2.DescribeRequest(), timeout=30)
                request = agent_pb2.ScreenRequest(
                    bundle=fed.bundle, job=agent_pb2.JobEnvelope(job_id=f"cap-{role.name}")
                )
                for reply in stub.Screen(request, timeout=120):
                    if reply.HasField("batch"):
                        table = wire.ipc_to_table(reply.batch.arrow_ipc)
                        for column in table.columns:
                            tokens += [v for v in column.to_pylist() if isinstance(v, str)]
        finally:
            proxy.close()
            proc.terminate()
            proc.wait(timeout=15)
        received += proxy.received
    yield bytes(received), tokens


def _raw_values(data: Path) -> tuple[set[str], set[str]]:
    """Every identifier (as written and canonical) and every name/case number in the data."""
    ids: set[str] = set()
    texts: set[str] = set()
    for role, dataset in [
        ("court", "labour_cases"),
        ("hrss", "arbitration_awards"),
        ("social_security", "back_payments"),
        ("social_security", "insured_persons"),
        ("social_security", "retirements"),
        ("social_security", "employers"),
        ("market_regulation", "enterprises"),
    ]:
        frame = pl.read_parquet(synth.dataset_path(data, role, dataset))
        for col in frame.columns:
            if col in ("name", "case_no", "award_no", "basis_doc_no"):
                texts.update(v for v in frame[col].drop_nulls().to_list() if len(v) >= 6)
            if col.endswith(("_id", "_uscc")) or col == "uscc":
                for v in frame[col].drop_nulls().to_list():
                    ids.add(v)
                    canonical = normalise("org" if "uscc" in col else "person", v)
                    if canonical:
                        ids.add(canonical)
    return ids, texts


def leaked_ids(received: bytes, ids: set[str]) -> set[str]:
    """Identifiers found anywhere in `received`.

    Arrow packs string values back to back, so an ID may sit inside a longer alphanumeric
    run: every 15- and 18-character window of every run is compared. Dirty spellings (spaces,
    full-width digits) are not alphanumeric ASCII and are searched for directly.
    """
    windows: set[bytes] = set()
    for run in re.findall(rb"[0-9A-Za-z]{15,}", received):
        for n in (15, 18):
            windows.update(run[k : k + n] for k in range(len(run) - n + 1))
    plain = {i for i in ids if i.isascii() and i.isalnum()}
    found = {w.decode() for w in windows} & plain
    return found | {i for i in ids - plain if i.encode() in received}


def test_the_leak_scan_finds_ids_packed_between_other_values() -> None:
    ids = {"11010519491231002X", "110105491231002", "１１０１０５ 19491231002X"}
    packed = (
        b"\x00\x10"
        + b"ab12"
        + b"11010519491231002X"
        + b"ffee"
        + "１１０１０５ 19491231002X".encode()
    )
    assert leaked_ids(packed, ids) == {"11010519491231002X", "１１０１０５ 19491231002X"}
    assert leaked_ids(b"c0ffee110105491231002", ids) == {"110105491231002"}
    assert leaked_ids(b"0123456789abcdef" * 4, ids) == set()


def test_no_raw_identifier_or_name_crosses_the_wire(
    fed: Fed, capture: tuple[bytes, list[str]]
) -> None:
    received, _tokens = capture
    assert len(received) > 10_000  # the capture holds real traffic
    ids, texts = _raw_values(fed.data)
    assert not leaked_ids(received, ids)
    decoded = received.decode("utf-8", errors="ignore")
    leaked_texts = [t for t in texts if t in decoded or normalise("case", t) in decoded]
    assert leaked_texts == []


def test_the_capture_does_contain_the_tokens_the_coordinator_needs(
    fed: Fed, capture: tuple[bytes, list[str]]
) -> None:
    received, tokens = capture
    keys = TokenKeys.derive(fed.secret.read_text().strip().encode(), MODEL, MODEL)
    truth = pl.read_csv(fed.data / synth.TRUTH_FILE)
    planted = {reference_token(keys, "person", p) for p in truth["person_id"].to_list()}
    assert planted & set(tokens)
    some = next(iter(planted & set(tokens)))
    assert some is not None and some.encode() in received
