"""The top-level keys every toy model.toml in the tests starts with, written in one place."""

from __future__ import annotations

from collections.abc import Sequence


def manifest_header(
    name: str,
    version: str = "1.0.0",
    *,
    title_zh: str = "探针",
    title_en: str = "Probe",
    rationale_zh: str = "测试用模型",
    rationale_en: str = "A model for tests",
    legal_basis: Sequence[str] = ("《测试依据》",),
) -> str:
    """The name, version, titles, rationales and legal basis of a toy model, one key a line,
    each line ending in a newline, so the role blocks can follow directly."""
    basis = ", ".join(f'"{law}"' for law in legal_basis)
    return (
        f'name = "{name}"\n'
        f'version = "{version}"\n'
        f'title_zh = "{title_zh}"\n'
        f'title_en = "{title_en}"\n'
        f'rationale_zh = "{rationale_zh}"\n'
        f'rationale_en = "{rationale_en}"\n'
        f"legal_basis = [{basis}]\n"
    )
