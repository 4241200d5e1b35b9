"""End to end in a real browser: a small synthetic search runs while `optgan dashboard` serves its
SQLite storage (no "database is locked" on either side), then headless Chromium opens the trial
page and the study note and finds the objective names, the user attrs and inline pictures.

Needs Debian's `chromium` + `chromium-driver` and `selenium` (`.ci/run` installs them); skipped
with the reason when they are absent, except under `CI=true`, where it fails. Nothing is
downloaded: the driver is given by path (no selenium-manager). Screenshots are kept in
`test-artifacts/` at the repository root.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

import optuna
import pytest

from optgan import keys
from optgan.config.study import load_study_config
from optgan.runner import run_search
from optgan.study.results import choose_best
from optgan.study.search import Search
from optgan.study.create import create_search

ROOT = pathlib.Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
SMALL = ["sampler.population_size=4", "gen_stage.rounds=2", "disc_stage.rounds=1", "caps.gen={}",
         "pictures.grid_images=9"]
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1400,1800")


def _browser() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else None)
    try:
        import selenium  # noqa: F401
    except ImportError:
        selenium_ok = False
    else:
        selenium_ok = True
    missing = [n for n, ok in (("chromium", chromium), ("chromedriver", driver), ("selenium", selenium_ok)) if not ok]
    if missing:
        reason = (f"browser test needs {', '.join(missing)} (apt-get install chromium chromium-driver; "
                  "pip install -e '.[test]')")
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return str(chromium), str(driver)


def _get(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - loopback only
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.fixture(scope="module")
def search(tmp_path_factory) -> Search:  # noqa: ANN001
    tmp = tmp_path_factory.mktemp("dash")
    cfg = load_study_config(str(ROOT / "studies" / "dry-run.yaml"), SMALL)
    return create_search(f"b{uuid.uuid4().hex[:8]}", cfg, f"sqlite:///{tmp / 'optgan.db'}", str(tmp / "run"))


@pytest.fixture(scope="module")
def dashboard(search: Search, tmp_path_factory) -> Iterator[str]:  # noqa: ANN001
    """`optgan dashboard --port 0` (the free loopback port it prints), in a subprocess; yields its base URL."""
    log = tmp_path_factory.mktemp("dashlog") / "dashboard.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "optgan_cli", "dashboard", "--storage", search.storage_url,
                                 "--host", "127.0.0.1", "--port", "0"], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline, base = time.monotonic() + 90, None
        while True:
            if proc.poll() is not None:
                pytest.fail(f"optgan dashboard exited with {proc.returncode}: {log.read_text()[-2000:]}")
            printed = re.search(r"at (http://127\.0\.0\.1:\d+)/", log.read_text())
            base = base or (printed.group(1) if printed else None)
            try:
                if base and _get(f"{base}/api/studies", timeout=5)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"optgan dashboard did not answer on {base}: {log.read_text()[-2000:]}")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def ran(search: Search, dashboard: str) -> dict:
    """Run the search while a thread keeps reading it through the dashboard's API."""
    gen_id = search.study("gen")._study_id
    stop, polls = threading.Event(), {"ok": 0, "bad": []}

    def reader() -> None:
        while not stop.is_set():
            for path in ("/api/studies", f"/api/studies/{gen_id}?after=0"):
                try:
                    status, body = _get(dashboard + path)
                except OSError as e:
                    polls["bad"].append(f"{path}: {e}")
                    continue
                if status == 200:
                    polls["ok"] += 1
                else:
                    polls["bad"].append(f"{path}: HTTP {status} {body[:200]!r}")
            time.sleep(0.05)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        results = run_search(search, ["gen", "disc"])
    finally:
        stop.set()
        thread.join(timeout=30)
    assert all(r.finished for r in results)
    return polls


@pytest.fixture(scope="module")
def browser() -> Iterator:
    chromium, driver_path = _browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in CHROME_FLAGS:
        opts.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="optgan-chromium-")
    opts.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=opts)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _wait_for_image(driver, fragment: str, timeout: float = 60.0):  # noqa: ANN001, ANN202
    """The first <img> whose src contains `fragment`, once the browser has decoded it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def loaded(d):  # noqa: ANN001, ANN202
        for img in d.find_elements(By.TAG_NAME, "img"):
            if fragment in (img.get_attribute("src") or "") and img.get_property("complete") \
                    and (img.get_property("naturalWidth") or 0) > 0:
                return img
        return False

    return WebDriverWait(driver, timeout, poll_frequency=0.3).until(loaded)


def _screenshot(driver, name: str) -> None:  # noqa: ANN001
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / name))


def test_dashboard_reads_while_the_run_writes(ran: dict) -> None:
    assert not ran["bad"], ran["bad"][:5]
    assert ran["ok"] >= 4


def test_trial_page_shows_names_attrs_and_sample_grid(search: Search, dashboard: str, ran: dict, browser) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    study = search.study("gen")
    best = choose_best(study, list(search.config.objectives))
    browser.get(f"{dashboard}/dashboard/studies/{study._study_id}/trials?numbers={best.number}")
    grid = _wait_for_image(browser, best.user_attrs[keys.SAMPLE_GRID_ARTIFACT])
    _wait_for_image(browser, best.user_attrs[keys.ARCH_PICTURE_ARTIFACT])
    browser.set_window_size(1400, 2600)  # the user attrs and artifacts below the note, too
    _screenshot(browser, "dashboard-trial-page.png")
    browser.set_window_size(1400, 1800)
    assert grid.get_property("naturalWidth") >= 100
    text = browser.find_element(By.TAG_NAME, "body").text
    assert f"Trial {best.number}" in text
    assert "IS_synthetic ↑" in text and "FID_synthetic ↓" in text and "params_M ↓" in text  # objective names (a dry run: labelled), in the trial note
    for key in (keys.GENERATION, keys.ROLE, keys.PARENTS, keys.PARAMS_M, keys.FLOPS_M, keys.GENOTYPE,
                keys.EXTRACTOR, keys.SAMPLE_GRID_ARTIFACT, keys.ARCH_PICTURE_ARTIFACT):
        assert key in text, key
    assert best.user_attrs[keys.GENOTYPE].split(" | ")[0] in text
    assert f"samples-trial-{best.number:04d}.png" in text  # listed under Artifacts too


def test_study_note_shows_setup_pictures_and_choice(search: Search, dashboard: str, ran: dict, browser) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    study = search.study("gen")
    best = choose_best(study, list(search.config.objectives))
    browser.get(f"{dashboard}/dashboard/studies/{study._study_id}/note")
    _wait_for_image(browser, best.user_attrs[keys.ARCH_PICTURE_ARTIFACT])
    pictures = [m.artifact_id for m in optuna.artifacts.get_all_artifact_meta(study)]
    loaded = [a for a in pictures if a in browser.page_source]
    assert len(loaded) == 2  # the latest Pareto front and learning curves
    for a in loaded:
        _wait_for_image(browser, a)
    _screenshot(browser, "dashboard-study-note.png")
    text = browser.find_element(By.TAG_NAME, "body").text
    assert f"Search {search.name} — stage gen" in text and "Chosen architecture (G*)" in text
    names = json.loads(_get(f"{dashboard}/api/studies")[1])["study_summaries"]
    assert {s["study_name"] for s in names} >= {f"{search.name}:gen", f"{search.name}:disc"}
