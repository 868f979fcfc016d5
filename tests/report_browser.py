"""Headless Chromium (Debian's chromium + chromium-driver) driven by Selenium, for the report
tests: a fresh profile in a temporary directory, no network, and the driver process always
ended (quit, then killed by its pid if it is still there)."""

import contextlib
import os
import shutil
import signal
import tempfile
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
MISSING = "Debian's chromium and chromium-driver are needed: make setup installs them (apt-get install -y chromium chromium-driver)"


def available():
    return os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)


@contextlib.contextmanager
def browser(width=1200, height=900):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="tester-report-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--user-data-dir=" + profile,
                "--window-size=%d,%d" % (width, height), "--hide-scrollbars", "--no-first-run", "--disable-extensions",
                "--disable-background-networking", "--proxy-server=127.0.0.1:9", "--force-device-scale-factor=1"):
        opts.add_argument(arg)
    service = Service(executable_path=CHROMEDRIVER, log_output=os.devnull)
    driver = None
    try:
        driver = webdriver.Chrome(service=service, options=opts)
        driver.set_page_load_timeout(20)
        yield driver
    finally:
        if driver is not None:
            with contextlib.suppress(Exception):
                driver.quit()
        proc = getattr(service, "process", None)
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        shutil.rmtree(profile, ignore_errors=True)


def open_file(driver, path):
    driver.get(Path(path).resolve().as_uri())


def full_screenshot(driver, path, width=1200):
    """A PNG of the whole page: the window is grown to the document's height first."""
    height = driver.execute_script("return Math.ceil(document.documentElement.scrollHeight)")
    driver.set_window_size(width, min(max(height, 600), 16000))
    driver.save_screenshot(str(path))
    return Path(path)


def points(driver, gid):
    """The drawn points of the matplotlib collection with this id: SVG writes them as <use> of a
    marker, or as one <path> each when that is shorter."""
    return count(driver, '[id="{0}"] use, [id="{0}"] > path'.format(gid), line=True)


PLOTS_JS = """
return Array.from(document.querySelectorAll('figure.plot')).map(f => {
  const s = f.querySelector('svg'); const r = s ? s.getBoundingClientRect() : {width: 0, height: 0};
  const data = Object.assign({}, f.dataset);
  return {name: f.dataset.plot, width: r.width, height: r.height, data: data,
          text: s ? s.textContent : ""};
});
"""


def plots(driver):
    """Every plot on the page: name, drawn size (px), its data-* attributes, its SVG text."""
    return {p["name"]: p for p in driver.execute_script(PLOTS_JS)}


def count(driver, css, line=False):
    """How many elements match css and are drawn with a non-zero box (line: a straight line's box
    is flat, one non-zero side is enough)."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).filter(e => {const r = e.getBoundingClientRect();"
        " return arguments[1] ? (r.width > 0 || r.height > 0) : (r.width > 0 && r.height > 0);}).length", css, line)


def shot(d, tmp_path, name, css=None):
    """A screenshot of the page, or of the element `css` (found afresh on each try: a tile is
    redrawn as it changes, and one found a moment before may be gone); also into
    $TESTER_SCREENSHOTS (docs/screenshots/ for the README) when set."""
    from selenium.common.exceptions import StaleElementReferenceException

    path = tmp_path / ("%s.png" % name)
    if css is None:
        d.save_screenshot(str(path))
    else:
        for attempt in range(5):
            try:
                d.find_element("css selector", css).screenshot(str(path))
                break
            except StaleElementReferenceException:
                if attempt == 4:
                    raise
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10000
    docs = os.environ.get("TESTER_SCREENSHOTS")
    if docs:
        Path(docs).mkdir(parents=True, exist_ok=True)
        Path(docs, path.name).write_bytes(path.read_bytes())
    return path
