"""A lead's life, as pure rules: which state follows which, and what each step records.

线索 ≠ 案件 (seed 001): a lead is a starting point for 调查核实, never a verdict, so every lead
passes through verification before it can be disposed of (发现—移送—核实—处置, seed 003).
No I/O here: the registry reads the current state, asks this module for the `Change`, and
writes it (with its history row) in one transaction, so a refused step changes nothing.

    new         -> assigned, transferred, or straight to verifying (a prosecutor picks it up)
    assigned    -> assigned (reassign), transferred, verifying
    transferred -> assigned (the receiving unit names a prosecutor), transferred (onward),
                   verifying
    verifying   -> verified_true, verified_false (both need a reason), assigned (handed to
                   another prosecutor, who starts verifying again), transferred (the lead
                   turns out to belong to another unit's jurisdiction)
    verified_true  -> disposed with any action
    verified_false -> disposed with `closed` only (nothing to supervise on a false lead)
    disposed    -> nothing (final; notes may still be added)

Routing (`leads route`) and notes attach information without changing the state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fedscreen.errors import UsageError

NEW = "new"
ASSIGNED = "assigned"
TRANSFERRED = "transferred"
VERIFYING = "verifying"
VERIFIED_TRUE = "verified_true"
VERIFIED_FALSE = "verified_false"
DISPOSED = "disposed"

STATES: tuple[str, ...] = (
    NEW,
    ASSIGNED,
    TRANSFERRED,
    VERIFYING,
    VERIFIED_TRUE,
    VERIFIED_FALSE,
    DISPOSED,
)

STATE_ZH = {
    NEW: "新线索",
    ASSIGNED: "已分派",
    TRANSFERRED: "已移送",
    VERIFYING: "核实中",
    VERIFIED_TRUE: "经核实属实",
    VERIFIED_FALSE: "经核实不属实",
    DISPOSED: "已处置",
}

TRANSITIONS: dict[str, tuple[str, ...]] = {
    NEW: (ASSIGNED, TRANSFERRED, VERIFYING),
    ASSIGNED: (ASSIGNED, TRANSFERRED, VERIFYING),
    TRANSFERRED: (ASSIGNED, TRANSFERRED, VERIFYING),
    VERIFYING: (ASSIGNED, TRANSFERRED, VERIFIED_TRUE, VERIFIED_FALSE),
    VERIFIED_TRUE: (DISPOSED,),
    VERIFIED_FALSE: (DISPOSED,),
    DISPOSED: (),
}

# 处置 — how a verified lead ends, in the procuratorate's own terms.
ACTIONS: dict[str, str] = {
    "retrial_proposal": "再审检察建议",
    "protest": "抗诉",
    "procuratorial_suggestion": "检察建议",
    "referral_to_police": "移送公安",
    "support_prosecution": "支持起诉",
    "aid_granted": "给予救助",
    "closed": "结案",
}
CLOSED = "closed"
DISPOSE_ACTIONS_FROM: dict[str, tuple[str, ...]] = {
    VERIFIED_TRUE: tuple(ACTIONS),
    VERIFIED_FALSE: (CLOSED,),
}

# The command that takes a lead into each state, for messages that say what to do next.
_COMMAND = {
    ASSIGNED: "leads assign",
    TRANSFERRED: "leads transfer",
    VERIFYING: "leads verify",
    VERIFIED_TRUE: "leads verify --true",
    VERIFIED_FALSE: "leads verify --false",
    DISPOSED: "leads dispose",
}

MAX_TEXT = 500


class IllegalTransition(UsageError):
    """The step does not follow from the lead's current state; nothing is changed."""

    grpc_status = "FAILED_PRECONDITION"


@dataclass(frozen=True)
class Change:
    """One step of a lead's life: the new state, the columns it sets, the history line."""

    action: str
    from_state: str | None  # None only for "found"
    to_state: str
    detail: str
    fields: dict[str, str | None] = field(default_factory=dict)


def legal_next(state: str) -> str:
    """`assigned (leads assign), …` — the steps open from `state`, for error messages."""
    steps = []
    for target in TRANSITIONS[state]:
        if target == DISPOSED:
            actions = DISPOSE_ACTIONS_FROM[state]
            steps.append(f"disposed (leads dispose --action {'|'.join(actions)})")
        else:
            steps.append(f"{target} ({_COMMAND[target]})")
    return ", ".join(steps) if steps else "none: the lead is final (leads note still works)"


def _check(lead_id: str, current: str, target: str) -> None:
    if current not in TRANSITIONS:
        raise IllegalTransition(f"lead {lead_id} has an unknown state {current!r}")
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(
            f"lead {lead_id} is {current}: cannot move it to {target}; "
            f"legal from {current}: {legal_next(current)}"
        )


def clean_text(value: str, what: str) -> str:
    """One line of free text (a name, a unit, a reason): trimmed, non-empty, bounded."""
    text = " ".join(value.split())
    if not text:
        raise UsageError(f"{what} must not be empty")
    if len(text) > MAX_TEXT:
        raise UsageError(f"{what} is {len(text)} characters long; keep it under {MAX_TEXT}")
    return text


def _with_reason(head: str, reason: str | None) -> str:
    return f"{head}: {clean_text(reason, 'the reason')}" if reason else head


def _needs_reason(reason: str | None, refusal: str) -> str:
    """Moves that hand a lead elsewhere, judge it or end it always say why."""
    if reason is None or not reason.strip():
        raise UsageError(refusal)
    return clean_text(reason, "the reason")


def assign(lead_id: str, current: str, person: str, reason: str | None = None) -> Change:
    person = clean_text(person, "the assignee (--to)")
    _check(lead_id, current, ASSIGNED)
    return Change("assign", current, ASSIGNED, _with_reason(person, reason), {"assignee": person})


def transfer(lead_id: str, current: str, unit: str, reason: str | None) -> Change:
    """移送: the lead now belongs to `unit`; its assignee there is not yet known."""
    unit = clean_text(unit, "the unit (--to)")
    _check(lead_id, current, TRANSFERRED)
    why = _needs_reason(reason, "a transfer needs --reason (why the lead goes there)")
    fields: dict[str, str | None] = {"unit": unit, "assignee": None}
    return Change("transfer", current, TRANSFERRED, f"{unit}: {why}", fields)


def start_verifying(lead_id: str, current: str, reason: str | None = None) -> Change:
    _check(lead_id, current, VERIFYING)
    return Change("verify", current, VERIFYING, _with_reason("核实开始", reason))


def verdict(lead_id: str, current: str, true: bool, reason: str | None) -> Change:
    """核实 ends in a verdict, always with a reason: the model's precision is built on it."""
    target = VERIFIED_TRUE if true else VERIFIED_FALSE
    _check(lead_id, current, target)
    text = _needs_reason(
        reason, f"a verdict needs --reason (why the lead is {target.split('_')[1]})"
    )
    fields: dict[str, str | None] = {"verdict": "true" if true else "false", "verdict_reason": text}
    return Change("verify", current, target, text, fields)


def dispose(lead_id: str, current: str, action: str, reason: str | None) -> Change:
    if action not in ACTIONS:
        raise UsageError(f"unknown disposal action {action!r} (known: {', '.join(ACTIONS)})")
    _check(lead_id, current, DISPOSED)
    allowed = DISPOSE_ACTIONS_FROM[current]
    if action not in allowed:
        raise IllegalTransition(
            f"lead {lead_id} is {current}: it can only be disposed of with "
            f"{'|'.join(allowed)}, not {action}"
        )
    why = _needs_reason(reason, "a disposal needs --reason (why this action)")
    head = f"{action} {ACTIONS[action]}: {why}"
    return Change("dispose", current, DISPOSED, head, {"disposition": action})


def found(job_id: str) -> Change:
    """A screening job produced the lead: the first row of its history."""
    return Change("found", None, NEW, f"job {job_id}")


def note(current: str, text: str) -> Change:
    """A remark in the history; the state stays as it is."""
    return Change("note", current, current, clean_text(text, "the note"))


def route(current: str, unit: str, prefix: str) -> Change:
    """The competent unit by jurisdiction (leads route); the state stays as it is."""
    return Change("route", current, current, f"{unit} (prefix {prefix})", {"unit": unit})
