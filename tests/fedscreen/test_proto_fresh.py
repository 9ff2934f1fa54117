"""Generated protobuf code is committed; it must match proto/ (run `make proto` to refresh)."""

from __future__ import annotations

import shutil
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ("agent_pb2.py", "agent_pb2.pyi", "agent_pb2_grpc.py")


def test_generated_code_matches_the_proto(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "proto", tmp_path / "proto")
    status = protoc.main(
        [
            "protoc",
            f"-I{tmp_path / 'proto'}",
            f"--python_out={tmp_path}",
            f"--pyi_out={tmp_path}",
            f"--grpc_python_out={tmp_path}",
            str(tmp_path / "proto/fedscreen/v1/agent.proto"),
        ]
    )
    assert status == 0
    for name in GENERATED:
        fresh = (tmp_path / "fedscreen/v1" / name).read_text()
        committed = (ROOT / "fedscreen/v1" / name).read_text()
        assert fresh == committed, f"fedscreen/v1/{name} is stale: run `make proto`"
