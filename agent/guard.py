"""Disclosure limits, enforced by the agent on every result before anything is sent."""

from __future__ import annotations

from agent.config import DisclosureLimits
from fedscreen.errors import DisclosureLimit
from fedscreen.jobs import round_2sig


def enforce_caps(rows_out: int, rows_in: int, limits: DisclosureLimits) -> None:
    """Refuse a result that flags too many rows: absolute cap, then fraction of the input."""
    if rows_out > limits.max_flag_rows:
        raise DisclosureLimit(
            f"result flags {rows_out} rows, above this agency's cap of {limits.max_flag_rows}; "
            "nothing was sent"
        )
    allowed = limits.max_flag_fraction * max(rows_in, 1)
    if rows_out > allowed:
        raise DisclosureLimit(
            # the coordinator sees input sizes only to 2 significant digits, as in Describe
            f"result flags {rows_out} of about {round_2sig(rows_in)} input rows, above this "
            f"agency's cap of "
            f"{limits.max_flag_fraction:.1%}; nothing was sent"
        )
