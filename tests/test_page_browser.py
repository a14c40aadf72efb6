"""The page end to end in a real browser: Debian's chromium driven by Playwright against `rag ui` on
127.0.0.1 with the built-in models. Upload a file, see it in the document table, ask about it, watch the
answer stream in before its sources appear, reload, and find the conversation again. Screenshots go to
tests/artifacts/."""
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
ARTIFACTS = REPO / "tests" / "artifacts"
FACT = "Cooling tower CT-9 needs a makeup water pressure of 0.35 MPa at the inlet valve."
QUESTION = "What makeup water pressure does cooling tower CT-9 need?"

# Records when the answer text and the sources caption first appear in the page.
WATCH = """
window.__seen = {};
new MutationObserver(() => {
  const body = document.body.innerText;
  if (!window.__seen.answer && body.includes('0.35') && body.includes('%s')) window.__seen.answer = performance.now();
  if (!window.__seen.sources && /Sources/.test(body) && body.includes('ct9_manual.md ·')) window.__seen.sources = performance.now();
}).observe(document.body, {subtree: true, childList: true, characterData: true});
""" % QUESTION[:20]


@pytest.fixture
def ui_server(tmp_path: Path):
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (scripts/test.sh installs it)")
    pytest.importorskip("playwright.sync_api")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    kb_dir = tmp_path / "kbs" / "plant"
    env = {**os.environ, "RAG_LLM_BACKEND": "auto", "RAG_MAX_NEW_TOKENS": "60"}
    process = subprocess.Popen([str(Path(sys.executable).parent / "rag"), "ui", "--kb", str(kb_dir), "--port", str(port)],
                               cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield f"http://127.0.0.1:{port}", kb_dir
    process.terminate()
    process.wait(timeout=30)
    # The page server itself stopped, not only `rag ui`: nothing answers on its port any more.
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_upload_ask_stream_sources_reload(ui_server, tmp_path: Path):
    from playwright.sync_api import expect, sync_playwright

    url, kb_dir = ui_server
    ARTIFACTS.mkdir(exist_ok=True)
    upload = tmp_path / "ct9_manual.md"
    upload.write_text(f"# CT-9 cooling tower\n\n{FACT}\n\nThe fan belt is checked every 3 months.\n", encoding="utf-8")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="en-US")
        deadline = time.time() + 120
        while True:  # the server needs a few seconds to start
            try:
                page.goto(url)
                break
            except Exception:  # noqa: BLE001 - connection refused until streamlit listens
                assert time.time() < deadline, "rag ui did not start"
                time.sleep(1)
        chat_box = page.get_by_placeholder("Ask about your documents")
        chat_box.wait_for(timeout=120_000)

        page.get_by_role("tab", name="Documents").click()
        page.locator('input[type="file"]').set_input_files(str(upload))
        page.get_by_role("button", name="Add to the knowledge base").click()
        expect(page.get_by_text("Added 1, updated 0")).to_be_visible(timeout=120_000)
        expect(page.locator("table").get_by_text("ct9_manual.md")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "page-1-documents.png"), full_page=True)
        assert (kb_dir / "uploads" / "ct9_manual.md").is_file()

        page.get_by_role("tab", name="Chat").click()
        page.evaluate(WATCH)
        chat_box.fill(QUESTION)
        chat_box.press("Enter")
        source = page.get_by_text("[1] ct9_manual.md", exact=False).first
        expect(source).to_be_visible(timeout=180_000)
        seen = page.evaluate("window.__seen")
        assert seen.get("answer") and seen.get("sources") and seen["answer"] < seen["sources"], seen
        source.click()  # the passage, with the cited sentence marked
        expect(page.locator("mark").first).to_contain_text("0.35 MPa")
        page.screenshot(path=str(ARTIFACTS / "page-2-answer.png"), full_page=True)

        page.reload()
        expect(page.get_by_text(QUESTION).first).to_be_visible(timeout=120_000)
        expect(page.get_by_text("[1] ct9_manual.md", exact=False).first).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "page-3-reloaded.png"), full_page=True)
        browser.close()
