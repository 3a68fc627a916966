"""End to end in a real headless browser: `workbench app` served, two pages opened."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(os.environ.get("WORKBENCH_SCREENSHOTS", "")) if os.environ.get(
    "WORKBENCH_SCREENSHOTS") else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(app_store, workbench_home):
    port = free_port()
    env = {**os.environ, "WORKBENCH_HOME": str(workbench_home)}
    proc = subprocess.Popen([sys.executable, "-m", "workbench.cli", "app", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("the app did not start in 60 s")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=20)
    with socket.socket() as s:  # `workbench app` was the server: nothing is left on the port
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_two_pages_in_chromium(served, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    shots = SHOTS or tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(served, wait_until="networkidle")
        page.get_by_text("Enrichment coverage").wait_for(timeout=60_000)
        page.get_by_text("Items with attributes").wait_for(timeout=60_000)  # streams in
        page.get_by_text("24 / 24").first.wait_for(timeout=60_000)
        page.screenshot(path=str(shots / "overview.png"), full_page=True)
        page.get_by_role("link", name="Items").click()
        page.get_by_text("Generated attributes").wait_for(timeout=60_000)
        page.get_by_text("prompt item_attributes.movie.v1").first.wait_for(timeout=60_000)
        assert page.locator("script", has_text="alert('x')").count() == 0  # not rendered
        page.screenshot(path=str(shots / "items.png"), full_page=True)
        browser.close()
    assert (shots / "overview.png").stat().st_size > 10_000
