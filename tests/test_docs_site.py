"""The built documentation site, opened in a real headless browser (chromium via selenium).

Every page loads with no console error, every image on it loads (``naturalWidth > 0``),
and every internal link points at a page of the site (and at an anchor on it, when the
link names one). The site is served over HTTP from the build folder, as a web server
would serve it.

Build the site first: ``sphinx-build -W --keep-going -b html docs docs/_build/html``
(``$SCRCL_DOCS_HTML`` names another build folder). Needs Debian's ``chromium`` and
``chromium-driver`` and the ``selenium`` package (``docs/requirements.txt``). Locally a
missing site or browser skips these tests; with ``CI=true`` it fails them.
"""
from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest

from _shared_data import REPO

pytestmark = pytest.mark.docs

SITE = Path(os.environ.get("SCRCL_DOCS_HTML") or REPO / "docs" / "_build" / "html")
ON_CI = os.environ.get("CI", "").lower() == "true"
#: what Sphinx writes beside the pages, not pages a reader opens
NOT_PAGES = ("_static", "_sources", "_images", ".doctrees", "jupyter_execute", "_modules")
#: the pages the site must have (a removed tutorial or reference shows here)
REQUIRED_PAGES = ("index.html", "getting-started.html", "tutorials/cell-types.html",
                  "tutorials/spatial-domains.html", "tutorials/scanpy-workflow.html",
                  "tutorials/unknown-k.html", "api/index.html", "cli.html", "results.html",
                  "bad-input.html", "design/index.html")


def _missing(message: str):
    if ON_CI:
        pytest.fail(message)
    pytest.skip(message)


def pages(site: Path) -> list[Path]:
    """The HTML pages of the built site, as paths relative to it."""
    return sorted(p.relative_to(site) for p in site.rglob("*.html")
                  if not any(part in NOT_PAGES for part in p.relative_to(site).parts))


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("id", "name") and value:
                self.ids.add(value)


@functools.lru_cache(maxsize=None)
def anchors(path: Path) -> frozenset[str]:
    """The ids (and a-names) of an HTML file."""
    parser = _Ids()
    parser.feed(path.read_text(errors="replace"))
    return frozenset(parser.ids)


def broken_link(site: Path, page: Path, href: str, origin: str) -> str | None:
    """Why the internal link ``href`` (absolute URL as the browser resolved it) on
    ``page`` does not resolve, or None when it does (or when it leaves the site)."""
    url, fragment = urldefrag(href)
    parsed = urlparse(url)
    if f"{parsed.scheme}://{parsed.netloc}" != origin:
        return None  # external, mailto:, javascript:, ...
    target = site / unquote(parsed.path).lstrip("/")
    if target.is_dir():
        target = target / "index.html"
    if not target.exists():
        return f"{page}: {href} points at a missing file"
    if fragment and target.suffix == ".html" and unquote(fragment) not in anchors(target):
        return f"{page}: {href} names an anchor that {target.relative_to(site)} lacks"
    return None


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def site() -> Path:
    if not (SITE / "index.html").is_file():
        _missing(f"no built docs site at {SITE}: run "
                 f"sphinx-build -W --keep-going -b html docs docs/_build/html")
    return SITE


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no access log on the test output
        pass


@pytest.fixture(scope="module")
def browser(site):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        _missing("chromium and chromedriver are not installed "
                 "(apt-get install chromium chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed (pip install -r docs/requirements.txt)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def visited(site, server, browser) -> dict[Path, dict]:
    """Every page opened once: its console errors, broken images and internal links."""
    results = {}
    for page in pages(site):
        browser.get(f"{server}/{page.as_posix()}")
        browser.execute_script("return document.readyState")  # wait for the load
        errors = [entry["message"] for entry in browser.get_log("browser")
                  if entry.get("level") == "SEVERE"]
        images = browser.execute_script(
            "return Array.from(document.images).map("
            "i => [i.src, i.complete && i.naturalWidth > 0])")
        links = browser.execute_script(
            "return Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
        results[page] = {"errors": errors, "images": images, "links": links}
    return results


# ----------------------------------------------------------------------------- the checks


def test_the_site_has_its_pages(site):
    found = {p.as_posix() for p in pages(site)}
    assert not [p for p in REQUIRED_PAGES if p not in found]
    assert len(found) >= 8


def test_every_page_loads_without_console_errors(visited):
    failures = {str(page): r["errors"] for page, r in visited.items() if r["errors"]}
    assert not failures, failures


def test_every_image_loads(visited):
    broken = [f"{page}: {src}" for page, r in visited.items()
              for src, ok in r["images"] if not ok]
    assert not broken, broken
    n_images = sum(len(r["images"]) for r in visited.values())
    assert n_images >= 4, f"only {n_images} images on the whole site"


def test_tutorials_show_their_figures(visited):
    for name in ("cell-types", "spatial-domains", "scanpy-workflow", "unknown-k"):
        images = visited[Path("tutorials") / f"{name}.html"]["images"]
        assert [src for src, ok in images if ok], f"tutorial {name} shows no figure"


def test_every_internal_link_resolves(site, server, visited):
    broken = sorted({problem for page, r in visited.items() for href in r["links"]
                     if (problem := broken_link(site, page, href, server))})
    assert not broken, broken


def test_the_link_checker_finds_a_broken_link(site, server):
    page = Path("index.html")
    assert broken_link(site, page, f"{server}/index.html", server) is None
    assert broken_link(site, page, "https://example.org/nowhere.html", server) is None
    assert broken_link(site, page, f"{server}/no-such-page.html", server)
    assert broken_link(site, page, f"{server}/index.html#no-such-anchor", server)
