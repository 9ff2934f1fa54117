"""The HTML report in a real browser: headless Chromium renders it, offline, as the registry says.

Chromium is Debian's `chromium` package; the session fixture installs it when it is missing
and the tests run as root (as on the project's machines), and skips, saying why, only when
that is impossible. The browser gets no network: every host resolves to nothing, so a page
that needed anything from outside would show it.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from coordinator.cli import main
from coordinator.state import init_state
from tests.coordinator.report_fixture import (
    FUNNEL,
    LEADS,
    PRECISION,
    REACHED,
    REGIONS_4,
    TIMELINE,
    TITLES,
    Page,
    read_page,
    write_registry,
)
from tests.coordinator.test_report import drawn, funnel, precision, reached, regions

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)


def _apt_install(*packages: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    argv = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=1200)


@pytest.fixture(scope="session")
def chromium() -> str:
    """The chromium binary, installed from Debian's package if it is not there yet."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("chromium is not installed and cannot be: not root, or no apt-get")
    if _apt_install("chromium").returncode != 0:  # stale package lists: refresh once
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, timeout=600)
        done = _apt_install("chromium")
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            pytest.skip(f"apt-get install chromium failed: {last}")
    found = shutil.which("chromium")
    if not found:
        pytest.skip("apt-get installed chromium but no chromium binary is on PATH")
    return found


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    root = tmp_path_factory.mktemp("browser")
    state = init_state(root / "state", "某区人民检察院")
    write_registry(state.registry)
    out = {}
    for lang in ("zh", "en"):
        out[lang] = root / f"report-{lang}.html"
        argv = ["--state", str(state.root), "report", "--out", str(out[lang]), "--lang", lang]
        assert main(argv) == 0
    yield out


def browse(chromium: str, page: Path, tmp_path: Path, *action: str) -> str:
    profile = tmp_path / f"profile-{page.stem}"
    done = subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={profile}", *action, page.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def check_numbers(page: Page, lang: str) -> None:
    """Everything the registry says, read back from the browser's DOM."""
    assert set(page.marks) == {"timeline", "funnel", "precision", "regions"}
    assert funnel(page) == FUNNEL
    assert reached(page) == REACHED
    assert precision(page) == PRECISION
    assert regions(page) == REGIONS_4
    assert drawn(page) == TIMELINE
    assert page.stats["total"] == str(len(LEADS))
    assert len(page.rows) == len(LEADS)
    titles = {lead_id: TITLES[model][lang == "en"] for lead_id, model, *_ in LEADS}
    for attrs, cells in page.rows:
        assert cells[0] == attrs["data-lead"]
        assert cells[1] == titles[attrs["data-lead"]]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_chromium_renders_the_charts_and_table_with_the_registrys_numbers(
    chromium: str, reports: dict[str, Path], tmp_path: Path, lang: str
) -> None:
    dom = browse(chromium, reports[lang], tmp_path, "--dump-dom")
    page = read_page(dom)
    assert page.lang == ("zh-CN" if lang == "zh" else "en")
    check_numbers(page, lang)


def test_chromium_takes_a_full_screenshot_of_the_report(
    chromium: str, reports: dict[str, Path], tmp_path: Path
) -> None:
    shot = tmp_path / "report.png"
    browse(chromium, reports["zh"], tmp_path, "--window-size=1200,2400", f"--screenshot={shot}")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert (width, height) == (1200, 2400)
    # A blank page of this size compresses to a few KiB; four charts and a table do not.
    assert len(data) > 60_000
