"""Every byte an agent sends carries no raw identifier, case number or name.

Agents run with --insecure-dev behind a recording TCP proxy so the capture is the plaintext
HTTP/2 stream — exactly what TLS would otherwise encrypt. A positive control checks the
capture does contain the planted plaintiffs' tokens, so an empty or garbled capture can't pass.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote_to_bytes

import grpc
import polars as pl
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from coordinator import synth
from fedscreen import wire
from fedscreen.identifiers import normalise
from fedscreen.tokens import TokenKeys, reference_token
from fedscreen.v1 import agent_pb2, agent_pb2_grpc
from tests.integration.agent_procs import sign, write_model
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


def _plaintext_agent(fed: Fed, role: str) -> tuple[subprocess.Popen[str], str, Path]:
    """The role's agent without TLS, on a state dir of its own; its log goes to a file."""
    text = fed.configs[role].read_text("utf-8")
    plain = re.sub(r"\[tls\].*?\n\n", "", text, flags=re.S)
    config = fed.configs[role].with_name("agent-plain.toml")
    config.write_text(plain.replace('state_dir = "state"', 'state_dir = "state-plain"'), "utf-8")
    (config.parent / "state-plain").mkdir(exist_ok=True)
    (config.parent / "state-plain" / "approvals.json").write_text(
        (config.parent / "state" / "approvals.json").read_text()
    )
    log = config.parent / "agent-plain.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", "serve", "--insecure-dev", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"listening on (\S+)", line)
    assert match, line
    return proc, match.group(1), log


def _wait_serving(channel: grpc.Channel) -> None:
    grpc.channel_ready_future(channel).result(timeout=30)
    stub = health_pb2_grpc.HealthStub(channel)
    deadline = time.monotonic() + 30
    while stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status != 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)


@dataclass
class Capture:
    wire: bytes  # every byte the agents sent, as it went over the socket
    decoded: str  # the audit lines they sent, JSON-decoded (escapes undone)
    tokens: list[str]  # the flag values, as the coordinator decodes them
    logs: str  # the agents' own logs, JSON-decoded


# Fails on a data value (an ID ending in X is no number); DuckDB's message quotes that value.
FAILING_SQL = (
    "SELECT case_no, court_region AS region FROM labour_cases "
    "WHERE CAST(plaintiff_id AS BIGINT) > 0"
)


def _json_text(lines: list[bytes]) -> str:
    """Every string in JSON lines, unescaped, one per line; a line that is no JSON as is."""
    out: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(k)
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for line in lines:
        try:
            walk(json.loads(line))
        except ValueError:
            out.append(line.decode("utf-8", errors="replace"))
    return "\n".join(out)


@pytest.fixture(scope="module")
def capture(fed: Fed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capture]:
    model = write_model(tmp_path_factory.mktemp("privacy") / "m", FAILING_SQL, name="failing")
    failing, verified = sign(fed.state, model)
    fed.approve("court", verified)  # copied to the plaintext court agent's state below
    received = bytearray()
    audit: list[bytes] = []
    logs: list[bytes] = []
    tokens: list[str] = []
    for role in fed.verified.manifest.roles:
        proc, address, log = _plaintext_agent(fed, role.name)
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
                if role.name == "court":  # a refusal's message crosses the wire too
                    bad = agent_pb2.ScreenRequest(
                        bundle=failing, job=agent_pb2.JobEnvelope(job_id="cap-failing")
                    )
                    with pytest.raises(grpc.RpcError) as refused:
                        list(stub.Screen(bad, timeout=60))
                    assert "query failed while reading data" in (refused.value.details() or "")
                # What `fedscreen audit pull` copies to the coordinator.
                pulled = stub.Audit(agent_pb2.AuditRequest(from_seq=1), timeout=30)
                audit += [entry.line for entry in pulled]
        finally:
            proxy.close()
            proc.terminate()
            proc.wait(timeout=15)
        received += proxy.received
        logs += log.read_bytes().splitlines()
    yield Capture(bytes(received), _json_text(audit), tokens, _json_text(logs))


def _raw_values(data: Path, roles: list[str]) -> tuple[set[str], set[str]]:
    """Every identifier (as written and canonical) and every name or document number (case,
    award, decision, order …) in every dataset the agents of `roles` hold."""
    ids: set[str] = set()
    texts: set[str] = set()
    for role in roles:
        for path in sorted((data / role).glob("*.parquet")):
            frame = pl.read_parquet(path)
            for col in frame.columns:
                if col == "name" or col.endswith("_no"):
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


def leaks(blob: bytes, ids: set[str], texts: set[str]) -> set[str]:
    """Identifiers, names and document numbers (also as normalised) found in `blob`."""
    text = blob.decode("utf-8", errors="ignore")
    found = leaked_ids(blob, ids)
    for t in texts:
        canonical = normalise("case", t)
        if t in text or (canonical and canonical in text):
            found.add(t)
    return found


def test_the_leak_scan_finds_document_numbers_also_percent_encoded() -> None:
    case = "（2019）豫0522执597号"
    sent = b"grpc-message: query failed on " + quote(case).encode()
    assert leaks(sent, set(), {case}) == set()  # as sent: percent-encoded
    assert leaks(unquote_to_bytes(sent), set(), {case}) == {case}
    canonical = normalise("case", case)  # half-width brackets
    assert canonical is not None and canonical != case
    assert leaks(canonical.encode(), set(), {case}) == {case}


def test_no_raw_identifier_or_name_crosses_the_wire(fed: Fed, capture: Capture) -> None:
    # The capture holds real traffic: flags, a refusal's message, the audit lines pulled.
    assert len(capture.wire) > 10_000
    assert b"query failed while reading data" in capture.wire
    assert b'"event":"screen"' in capture.wire and "cap-failing" in capture.decoded
    ids, texts = _raw_values(fed.data, [r.name for r in fed.verified.manifest.roles])
    # As sent; with gRPC's percent-encoding of status messages undone; and the audit lines
    # with JSON's escapes undone.
    for blob in (capture.wire, unquote_to_bytes(capture.wire), capture.decoded.encode()):
        assert leaks(blob, ids, texts) == set()


def test_no_raw_identifier_or_name_is_in_the_agents_logs(fed: Fed, capture: Capture) -> None:
    assert "job cap-court sent" in capture.logs and "cap-failing" in capture.logs
    ids, texts = _raw_values(fed.data, [r.name for r in fed.verified.manifest.roles])
    assert leaks(capture.logs.encode(), ids, texts) == set()


def test_the_capture_does_contain_the_tokens_the_coordinator_needs(
    fed: Fed, capture: Capture
) -> None:
    keys = TokenKeys.derive(fed.secret.read_text().strip().encode(), MODEL, MODEL)
    truth = pl.read_csv(fed.data / synth.TRUTH_FILE)
    planted = {reference_token(keys, "person", p) for p in truth["person_id"].to_list()}
    assert planted & set(capture.tokens)
    some = next(iter(planted & set(capture.tokens)))
    assert some is not None and some.encode() in capture.wire
