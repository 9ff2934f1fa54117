"""The agency's consent: which signed bundles this agency has approved to run here.

An approval is a bundle digest recorded in the state dir after an operator inspected the bundle.
A trusted signature alone is not enough to run (MISSION.md, privacy contract 6: deny by default).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fedscreen.errors import ConfigError, NotApproved
from fedscreen.files import write_atomic


@dataclass(frozen=True)
class Approval:
    digest: str
    model: str
    version: str
    approved_at: str
    approved_by: str


class Approvals:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Approval]:
        if not self.path.exists():
            return {}
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            return {d: Approval(digest=d, **fields) for d, fields in doc.items()}
        except (ValueError, TypeError):
            raise ConfigError(
                f"{self.path}: approvals file is corrupt; re-approve bundles"
            ) from None

    def approve(self, digest: str, model: str, version: str, by: str) -> Approval:
        current = self.load()
        approval = Approval(digest, model, version, datetime.now(UTC).isoformat(), by)
        current[digest] = approval
        self._write(current)
        return approval

    def revoke(self, digest: str) -> bool:
        current = self.load()
        found = current.pop(digest, None) is not None
        self._write(current)
        return found

    def require(self, digest: str, model: str) -> Approval:
        approval = self.load().get(digest)
        if approval is None:
            raise NotApproved(
                f"bundle {digest[:12]} of model {model} is not approved by this agency "
                "(fedscreen-agent inspect, then approve)"
            )
        return approval

    def _write(self, approvals: dict[str, Approval]) -> None:
        doc = {
            a.digest: {
                "model": a.model,
                "version": a.version,
                "approved_at": a.approved_at,
                "approved_by": a.approved_by,
            }
            for a in approvals.values()
        }
        write_atomic(self.path, json.dumps(doc, indent=2, sort_keys=True))
