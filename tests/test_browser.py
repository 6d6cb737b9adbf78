"""Does the release work for a student in JupyterLab?  (headless Chromium, driven by Playwright)

A real `jupyter lab` serves a scratch copy of the release; Chromium opens the notebook, runs all
cells, and the test checks what a student sees: the equations typeset by MathJax, every figure
loaded, and the verdict of nbgrader's Validate button (failed for the untouched release, success
for a notebook with the reference solutions).

It needs Playwright (`pip install playwright`) and a Chromium it can launch (one installed by
`playwright install chromium`, or a system chromium).  Where there is none, the test is skipped
and the summary (`pytest -ra`) says "skipped: no Chromium".
"""
import os
import shutil
import urllib.error
import urllib.request

import pytest

from autograder.course import samples

from conftest import NAME, ROOT

SYSTEM_CHROMIUMS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
RUN_ALL_SECONDS = 300


def _no_chromium(why):
    pytest.skip(f"skipped: no Chromium ({why})")


@pytest.fixture(scope="module")
def chromium():
    """A launched headless Chromium, or a skip saying why there is none."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        _no_chromium("Playwright is not installed: pip install playwright")
    manager = sync_playwright().start()
    executable = next((shutil.which(name) for name in SYSTEM_CHROMIUMS if shutil.which(name)), None)
    try:
        browser = manager.chromium.launch(headless=True, executable_path=executable,
                                          args=["--no-sandbox"] if os.geteuid() == 0 else [])
    except Error as error:
        manager.stop()
        _no_chromium(f"Playwright found no browser to launch: {str(error).splitlines()[0]}")
    try:
        yield browser
    finally:
        browser.close()
        manager.stop()


@pytest.fixture(scope="module")
def lab(chromium, tmp_path_factory):
    """`jupyter lab` serving a folder with the release and a solved copy of it; yields the URL
    of a notebook by file name."""
    import nbformat
    home = tmp_path_factory.mktemp("lab")
    work = home / "work"
    shutil.copytree(ROOT / "release" / NAME, work)
    release = nbformat.read(str(work / f"{NAME}.ipynb"), as_version=4)
    nbformat.write(samples.make_notebook(release, {"*": "reference"}), str(work / "solved.ipynb"))
    from conftest import jupyter_server
    with jupyter_server("jupyterlab", work, home, token="browser-test-token",
                        extra_args=["--LabApp.expose_app_in_browser=True"]) as (base, token):
        yield lambda name: f"{base}/lab/tree/{name}?token={token}"


def _open_and_run_all(chromium, url):
    """A page with the notebook open and every cell run (or the run stopped at an error)."""
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    page.wait_for_function("() => window.jupyterapp && document.querySelector('.jp-Notebook')")
    # the kernel must be ready before running
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(
        """() => {
            const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
            const busy = prompts.some(p => p.textContent.includes('*'));
            const ran = prompts.some(p => /\\[\\d+\\]/.test(p.textContent));
            return ran && !busy;
        }""", timeout=RUN_ALL_SECONDS * 1000, polling=1000)
    # markdown is rendered lazily in Lab 4: scroll through the notebook once
    page.evaluate("""async () => {
        const scroller = document.querySelector('.jp-WindowedPanel-outer') || document.scrollingElement;
        for (let y = 0; y < scroller.scrollHeight; y += 600) {
            scroller.scrollTop = y; await new Promise(r => setTimeout(r, 50));
        }
    }""")
    return page


def _validate(page):
    """Click nbgrader's Validate button; the verdict class of its dialog and its text."""
    page.click(".validate-button")
    message = page.wait_for_selector("#validation-message", timeout=RUN_ALL_SECONDS * 1000)
    verdict = message.get_attribute("class") or ""
    text = message.inner_text()
    page.keyboard.press("Escape")
    return verdict, text


def test_release_renders_and_validate_says_it_fails(chromium, lab):
    """In JupyterLab, does the untouched release typeset its equations, show every figure, stop
    at the first unimplemented function, and does the Validate button say it fails?"""
    page = _open_and_run_all(chromium, lab(f"{NAME}.ipynb"))
    try:
        assert page.locator(".jp-MarkdownCell mjx-container").count() > 0, "no equation was typeset"
        assert page.locator(".jp-MarkdownCell .MathJax_Error, .jp-MarkdownCell mjx-merror").count() == 0
        images = page.evaluate("""() => [...document.querySelectorAll('.jp-MarkdownCell img')]
                                  .map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])""")
        assert images, "no figure in the release"
        assert all(ok for _, ok in images), [src for src, ok in images if not ok]
        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        assert "NotImplementedError" in page.inner_text(".jp-Notebook") or errors.count() > 0
        verdict, text = _validate(page)
        assert "validation-failed" in verdict, text
    finally:
        page.close()


def test_solved_notebook_passes_validate(chromium, lab):
    """With the reference solutions filled in, does every cell run and Validate say success?"""
    page = _open_and_run_all(chromium, lab("solved.ipynb"))
    try:
        assert "Traceback" not in page.inner_text(".jp-Notebook")
        verdict, text = _validate(page)
        assert "validation-success" in verdict, text
        assert "Success! Your notebook passes all the tests." in text
    finally:
        page.close()
