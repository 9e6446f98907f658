"""The market's web page in a real browser: ``sedna kb serve`` on 127.0.0.1 with a temporary
store and real learnware packages, driven by Debian's headless Chromium through Selenium.

Screenshots are decoded and checked: the page is drawn (not blank, the header in its colour),
and the result table's pixels change between two searches.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from sedna_market.spec.rkme import generate_rkme_table_spec

TOKEN = "web-ui-admin-token-0123456789"
CHROMIUM = os.environ.get("SEDNA_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SEDNA_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
XSS_NAME = '<img src=x onerror="window.__xss=1">'
#: name -> (mean of its training data, scenario)
MODELS = {"alpha churn": (0.0, "Business"), "beta sensor": (3.0, "Health"), "gamma traffic": (-3.0, "Traffic"),
          XSS_NAME: (8.0, "Business")}
#: the header's background in app.css (#24364f)
HEADER_RGB = (0x24, 0x36, 0x4F)
WAIT_S = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Market:
    url: str
    ids: dict[str, str] = field(default_factory=dict)
    zips: dict[str, bytes] = field(default_factory=dict)


def _submit(url: str, data: bytes, semantic: dict[str, Any]) -> str:
    r = httpx.post(f"{url}/api/v1/learnwares", params={"wait": "true"}, headers={"Authorization": f"Bearer {TOKEN}"},
                   files={"file": ("p.zip", data, "application/zip")}, data={"semantic_spec": json.dumps(semantic)},
                   timeout=120)
    assert r.status_code == 202, r.text
    assert r.json()["status_name"] == "USABLE", r.json()
    return str(r.json()["id"])


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory, make_package: Callable[..., bytes],
           semantic: Callable[..., Any]) -> Iterator[Market]:
    """``sedna kb serve`` (the real command) with a token, holding the four ``MODELS``."""
    tmp = tmp_path_factory.mktemp("web-ui-market")
    port = free_port()
    cmd = [sys.executable, "-c", "from sedna_operator.cli import app; app()", "kb", "serve", "--host", "127.0.0.1",
           "--port", str(port), "--db-url", f"sqlite:///{tmp / 'kb.db'}", "--storage-dir", str(tmp / "store"),
           "--token", TOKEN, "--max-upload-mb", "4", "--log-level", "warning"]
    log = (tmp / "server.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + WAIT_S
        while True:
            assert proc.poll() is None, f"sedna kb serve exited: {(tmp / 'server.log').read_text()}"
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"sedna kb serve did not answer: {(tmp / 'server.log').read_text()}"
            time.sleep(0.1)
        m = Market(url)
        for i, (name, (mean, scenario)) in enumerate(MODELS.items()):
            spec = generate_rkme_table_spec(np.random.default_rng(i).normal(mean, 1.0, size=(80, 4)), reduced_set_size=8)
            m.zips[name] = make_package("good", spec=spec, seed=i)
            m.ids[name] = _submit(url, m.zips[name], semantic(name=name, scenario=scenario,
                                                              description=f"{name} demo").to_dict())
        yield m
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WebDriver, Path]]:
    """Headless Chromium (Debian's ``chromium`` + ``chromium-driver``) and its download folder."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail(f"the web page tests need Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER} "
                    "missing): apt-get install chromium chromium-driver, or set SEDNA_TEST_CHROMIUM / "
                    "SEDNA_TEST_CHROMEDRIVER")
    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,1000", "--force-device-scale-factor=1", "--no-first-run"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False,
                                              "safebrowsing.enabled": False})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(WAIT_S)
        yield driver, downloads
    finally:
        driver.quit()


# -- helpers -------------------------------------------------------------------------------------
def wait(driver: WebDriver, condition: Callable[[WebDriver], Any], what: str) -> Any:
    """``condition`` once true; on a timeout the error shows the page's messages and console."""
    try:
        return WebDriverWait(driver, WAIT_S).until(condition)
    except TimeoutException:
        messages = {e.get_attribute("id"): e.text for e in driver.find_elements(By.CSS_SELECTOR, ".message, .muted")}
        console = [entry.get("message") for entry in driver.get_log("browser")]
        raise AssertionError(f"timed out waiting for {what}; page messages {messages}; console {console}") from None


def open_page(driver: WebDriver, url: str) -> None:
    driver.get(url)
    wait(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1", "the page to load")


def rows(driver: WebDriver, table: str) -> list[WebElement]:
    return [r for r in driver.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr") if r.is_displayed()]


def row_ids(driver: WebDriver, table: str) -> list[str]:
    return [r.get_attribute("data-id") or "" for r in rows(driver, table)]


def screenshot(driver: WebDriver, name: str) -> np.ndarray:
    """The viewport as an ``(h, w, 3)`` uint8 array (decoded from Chromium's PNG); also saved as
    ``<name>.png`` under ``$SEDNA_TEST_SCREENSHOTS`` when set (CI keeps them)."""
    png = driver.get_screenshot_as_png()
    if os.environ.get("SEDNA_TEST_SCREENSHOTS"):
        folder = Path(os.environ["SEDNA_TEST_SCREENSHOTS"])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"web-{name}.png").write_bytes(png)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def region(image: np.ndarray, element: WebElement, driver: WebDriver) -> np.ndarray:
    """The pixels of ``element`` (scrolled into view first) in ``image``."""
    scale = float(driver.execute_script("return window.devicePixelRatio"))
    r = driver.execute_script("const b = arguments[0].getBoundingClientRect(); return [b.left, b.top, b.width, b.height];",
                              element)
    x, y, w, h = (int(round(v * scale)) for v in r)
    return image[max(y, 0):y + h, max(x, 0):x + w]


def assert_drawn(image: np.ndarray) -> None:
    """Not blank: many colours, real contrast, and the header in the stylesheet's colour (so the
    market served the CSS and the browser applied it)."""
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 400, image.shape
    colours = np.unique(image.reshape(-1, 3), axis=0)
    assert len(colours) > 20, f"only {len(colours)} colours: a blank page?"
    assert float(image.std()) > 10.0
    header = image[:20, :200].reshape(-1, 3)
    assert (np.abs(header.astype(int) - HEADER_RGB).max(axis=1) <= 3).mean() > 0.5, "the header is not in its colour"


def write_csv(path: Path, mean: float, seed: int) -> Path:
    X = np.random.default_rng(seed).normal(mean, 1.0, size=(100, 4))
    path.write_text("a,b,c,d\n" + "\n".join(",".join(f"{v:.5f}" for v in row) for row in X) + "\n")
    return path


# -- tests ---------------------------------------------------------------------------------------
def test_browse_filter_detail_and_escaping(market: Market, browser: tuple[WebDriver, Path]) -> None:
    driver, _ = browser
    open_page(driver, market.url + "/")  # the market's address redirects to the page
    assert driver.current_url.startswith(market.url + "/ui/")
    wait(driver, lambda d: len(rows(d, "lw-table")) == 4, "the four learnwares")
    assert set(row_ids(driver, "lw-table")) == set(market.ids.values())
    assert driver.find_element(By.ID, "browse-count").text == "4 of 4 learnwares"
    assert_drawn(screenshot(driver, "list"))

    # a name is text, never markup: the row shows it literally, no <img> was made, nothing ran
    xss_row = driver.find_element(By.CSS_SELECTOR, f'#lw-table tr[data-id="{market.ids[XSS_NAME]}"]')
    assert XSS_NAME in xss_row.text
    assert driver.find_elements(By.CSS_SELECTOR, "#lw-table img") == []
    assert driver.execute_script("return window.__xss") is None

    # filters narrow the list: text, then a semantic field
    driver.find_element(By.ID, "f-text").send_keys("alpha")
    wait(driver, lambda d: row_ids(d, "lw-table") == [market.ids["alpha churn"]], "the text filter")
    driver.find_element(By.ID, "f-clear").click()
    Select(driver.find_element(By.ID, "f-scenario")).select_by_visible_text("Business")
    wait(driver, lambda d: set(row_ids(d, "lw-table")) == {market.ids["alpha churn"], market.ids[XSS_NAME]},
         "the Scenario filter")
    Select(driver.find_element(By.ID, "f-status")).select_by_visible_text("INVALID")
    wait(driver, lambda d: row_ids(d, "lw-table") == [], "the status filter")
    assert driver.find_element(By.ID, "browse-count").text == "0 of 4 learnwares"
    driver.find_element(By.ID, "f-clear").click()
    wait(driver, lambda d: len(rows(d, "lw-table")) == 4, "the cleared filters")

    # the detail view: semantic fields and the statistical spec's summary
    driver.find_element(By.CSS_SELECTOR, f'#lw-table tr[data-id="{market.ids["beta sensor"]}"] a.lw-link').click()
    wait(driver, lambda d: d.find_element(By.ID, "d-name").text == "beta sensor", "the detail view")
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#d-stat tr")) >= 6, "the statistical spec")

    def field_of(table: str, key: str) -> str:
        return driver.find_element(By.CSS_SELECTOR, f'#{table} tr[data-key="{key}"] td').text

    assert field_of("d-semantic", "Data") == "Table" and field_of("d-semantic", "Task") == "Classification"
    assert field_of("d-semantic", "Scenario") == "Health" and field_of("d-semantic", "Library") == "Scikit-learn"
    assert field_of("d-semantic", "Status") == "USABLE" and field_of("d-semantic", "Uploader") == "admin"
    assert field_of("d-semantic", "Input").startswith("dimension 4")
    assert field_of("d-stat", "Type") == "RKMETableSpecification" and field_of("d-stat", "Dimension") == "4"
    assert field_of("d-stat", "Reduced points") == "8" and field_of("d-stat", "Samples summarised") == "80"
    assert len(driver.find_elements(By.CSS_SELECTOR, "#d-weights span")) == 8
    image = screenshot(driver, "detail")
    assert_drawn(image)
    bars = region(image, driver.find_element(By.ID, "d-weights"), driver)
    assert bars.size and len(np.unique(bars.reshape(-1, 3), axis=0)) > 2, "the weight bars are not drawn"

    # the XSS model's detail view also shows its name as text
    driver.get(f"{market.url}/ui/#lw/{market.ids[XSS_NAME]}")
    wait(driver, lambda d: d.find_element(By.ID, "d-name").text == XSS_NAME, "the XSS model's detail view")
    assert driver.find_elements(By.CSS_SELECTOR, "main img") == []
    assert driver.execute_script("return window.__xss") is None


def test_search_by_csv_and_tags(market: Market, browser: tuple[WebDriver, Path], tmp_path: Path) -> None:
    driver, _ = browser
    open_page(driver, market.url + "/ui/#search")
    results = driver.find_element(By.ID, "s-results")

    def run_search() -> None:
        before = int(results.get_attribute("data-searches") or 0)
        driver.find_element(By.ID, "s-run").click()
        wait(driver, lambda d: int(results.get_attribute("data-searches") or 0) > before, "the search's answer")

    def search_csv(path: Path) -> list[str]:
        driver.find_element(By.ID, "s-csv").send_keys(str(path))
        run_search()
        return row_ids(driver, "s-results")

    ranked = search_csv(write_csv(tmp_path / "beta.csv", 3.0, seed=21))
    assert ranked[0] == market.ids["beta sensor"], driver.find_element(By.ID, "s-message").text
    assert driver.find_element(By.ID, "s-summary").text.startswith("Your data: 100 rows x 4 features")
    scores = [float(e.text) for e in driver.find_elements(By.CSS_SELECTOR, "#s-results .score-value")]
    assert len(scores) == len(ranked) and scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1
    first = screenshot(driver, "search-beta")
    assert_drawn(first)
    first_table = region(first, results, driver)
    assert first_table.size and first_table.std() > 5

    ranked = search_csv(write_csv(tmp_path / "gamma.csv", -3.0, seed=22))
    assert ranked[0] == market.ids["gamma traffic"]
    second_table = region(screenshot(driver, "search-gamma"), results, driver)
    h, w = min(first_table.shape[0], second_table.shape[0]), min(first_table.shape[1], second_table.shape[1])
    changed = np.any(first_table[:h, :w] != second_table[:h, :w], axis=2).mean()
    assert changed > 0.01, f"the result table looks the same after another search ({changed:.4f} of pixels changed)"

    # a CSV the market cannot use: the reason is shown, the table is emptied
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3,oops\n")
    driver.find_element(By.ID, "s-csv").send_keys(str(bad))
    run_search()
    message = driver.find_element(By.ID, "s-message").text
    assert "HTTP 422" in message and "row 3, column 2: 'oops' is not a number" in message
    assert rows(driver, "s-results") == []

    # by tags only: drop the CSV first
    driver.find_element(By.ID, "s-csv-clear").click()
    assert driver.execute_script("return document.getElementById('s-csv').files.length") == 0
    Select(driver.find_element(By.ID, "s-scenario")).select_by_visible_text("Health")
    run_search()
    assert row_ids(driver, "s-results") == [market.ids["beta sensor"]]
    Select(driver.find_element(By.ID, "s-scenario")).select_by_visible_text("Business")
    run_search()
    assert set(row_ids(driver, "s-results")) == {market.ids["alpha churn"], market.ids[XSS_NAME]}
    driver.find_element(By.ID, "s-name").send_keys("alpha")
    run_search()
    assert row_ids(driver, "s-results") == [market.ids["alpha churn"]]


def test_download_from_the_detail_view(market: Market, browser: tuple[WebDriver, Path]) -> None:
    driver, downloads = browser
    mid = market.ids["alpha churn"]
    open_page(driver, f"{market.url}/ui/#lw/{mid}")
    wait(driver, lambda d: d.find_element(By.ID, "d-name").text == "alpha churn", "the detail view")
    driver.find_element(By.ID, "d-download").click()
    target = downloads / f"{mid}.zip"
    wait(driver, lambda d: target.exists() and not list(downloads.glob("*.crdownload")), "the download")
    assert target.read_bytes() == market.zips["alpha churn"]


def test_upload_and_delete_need_the_token(market: Market, browser: tuple[WebDriver, Path], tmp_path: Path,
                                          make_package: Callable[..., bytes], semantic: Callable[..., Any]) -> None:
    driver, _ = browser
    spec = generate_rkme_table_spec(np.random.default_rng(40).normal(-6.0, 1.0, size=(80, 4)), reduced_set_size=8)
    package = tmp_path / "delta.zip"
    package.write_bytes(make_package("good", spec=spec, semantic=semantic(name="delta uploaded", scenario="Nature")))
    open_page(driver, market.url + "/ui/#upload")
    driver.find_element(By.ID, "token-forget").click()
    assert driver.find_element(By.ID, "token-state").text == "no token (read only)"

    # without a token the API refuses and the page says why
    driver.find_element(By.ID, "u-file").send_keys(str(package))
    driver.find_element(By.ID, "u-submit").click()
    wait(driver, lambda d: "refused" in d.find_element(By.ID, "u-message").text, "the refused upload")
    assert driver.find_element(By.ID, "u-message").text == "upload refused: HTTP 401: missing or wrong bearer token"
    assert len(httpx.get(f"{market.url}/api/v1/learnwares").json()) == len(market.ids)

    # with the token (kept in sessionStorage, sent as the Authorization header) it is stored
    driver.find_element(By.ID, "token").send_keys(TOKEN)
    driver.find_element(By.ID, "token-save").click()
    assert driver.find_element(By.ID, "token-state").text == "token set for this tab"
    assert driver.execute_script("return sessionStorage.getItem('sedna-market-token')") == TOKEN
    driver.find_element(By.ID, "u-submit").click()
    wait(driver, lambda d: d.find_element(By.ID, "u-message").text.startswith("uploaded:"), "the upload")
    assert "USABLE" in driver.find_element(By.ID, "u-message").text
    new_id = driver.find_element(By.CSS_SELECTOR, "#u-message a.lw-link").text
    info = httpx.get(f"{market.url}/api/v1/learnwares/{new_id}").json()
    assert info["name"] == "delta uploaded" and info["uploader"] == "admin"
    assert httpx.get(f"{market.url}/api/v1/learnwares/{new_id}/download").content == package.read_bytes()

    # delete: refused without the token (401 shown), done with it
    driver.find_element(By.CSS_SELECTOR, "#u-message a.lw-link").click()
    wait(driver, lambda d: d.find_element(By.ID, "d-name").text == "delta uploaded", "the new model's detail view")
    driver.find_element(By.ID, "token-forget").click()
    driver.find_element(By.ID, "d-delete").click()
    driver.find_element(By.ID, "d-delete-confirm").click()
    wait(driver, lambda d: "refused" in d.find_element(By.ID, "d-message").text, "the refused delete")
    assert driver.find_element(By.ID, "d-message").text == "delete refused: HTTP 401: missing or wrong bearer token"
    assert httpx.get(f"{market.url}/api/v1/learnwares/{new_id}").status_code == 200

    driver.find_element(By.ID, "token").send_keys(TOKEN)
    driver.find_element(By.ID, "token-save").click()
    driver.find_element(By.ID, "d-delete").click()
    driver.find_element(By.ID, "d-delete-confirm").click()
    wait(driver, lambda d: d.find_element(By.ID, "d-message").text == f"deleted {new_id}", "the delete")
    assert httpx.get(f"{market.url}/api/v1/learnwares/{new_id}").status_code == 404
    driver.get(market.url + "/ui/#browse")
    wait(driver, lambda d: set(row_ids(d, "lw-table")) == set(market.ids.values()), "the list without it")
