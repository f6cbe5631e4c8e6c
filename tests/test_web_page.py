"""The service's web page in a real browser: headless Chromium (Debian's) driven by Selenium.

A toy video is chosen in the page's file input; the page uploads it, then must show the sentence
and the glosses the API gives, a timeline button per gloss that seeks the video, and the
probability plot's legend.
"""

from __future__ import annotations

import shutil

import httpx
import pytest

from dataset.video_reader import probe_video_file

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER),
        reason="needs Debian's chromium and chromium-driver (.ci/run installs them; apt-get install chromium "
        "chromium-driver)",
    ),
]


@pytest.fixture()
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic"]
    flags += ["--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    flags += ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]  # a test pattern as the camera
    for flag in [*flags, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1100,1000"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def a_video_with_glosses(service) -> tuple[str, dict]:
    """A short toy test video the model recognises glosses in, and the API's answer for it."""
    for path in sorted(service.videos.glob("*.mp4")):
        if probe_video_file(path).seconds <= 3:
            with path.open("rb") as handle:
                answer = httpx.post(f"{service.url}/translate", files={"video": (path.name, handle)}, timeout=60)
            if answer.json()["spans"]:
                return str(path), answer.json()
    raise AssertionError("the served model recognised no gloss in any short toy test video")


def test_choosing_a_video_shows_its_sentence_timeline_and_plot(service, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    path, expected = a_video_with_glosses(service)
    browser.get(service.url)
    WebDriverWait(browser, 20).until(lambda b: "tiny on cpu" in b.find_element(By.ID, "model").text)
    browser.find_element(By.ID, "file").send_keys(path)
    WebDriverWait(browser, 60).until(lambda b: b.find_element(By.ID, "result").is_displayed())

    assert browser.find_element(By.ID, "sentence").text == (expected["sentence"] or "(no sentence)")
    assert browser.find_element(By.ID, "glosses").text == expected["glosses"]
    buttons = browser.find_elements(By.CSS_SELECTOR, "#timeline .gloss")
    assert [b.text for b in buttons] == [span["gloss"] for span in expected["spans"]]
    legend = browser.find_element(By.ID, "legend").text
    assert "<blank>" in legend and all(span["gloss"] in legend for span in expected["spans"])
    assert "batch of 1" in browser.find_element(By.ID, "timings").text
    assert not browser.find_element(By.ID, "error").is_displayed()

    last = buttons[-1]
    last.click()  # seeks the video to the gloss's start
    seek = float(last.get_attribute("data-start"))
    current = browser.execute_script("return document.getElementById('video').currentTime")
    assert current == pytest.approx(seek, abs=0.05)
    browser.save_screenshot(str(tmp_path / "page.png"))


def test_a_bad_file_shows_the_services_message(service, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video")
    browser.get(service.url)
    browser.find_element(By.ID, "file").send_keys(str(notes))
    WebDriverWait(browser, 30).until(lambda b: b.find_element(By.ID, "error").is_displayed())
    assert "notes.mp4: not a readable video" in browser.find_element(By.ID, "error").text
    assert not browser.find_element(By.ID, "result").is_displayed()


def test_recording_from_the_camera_uploads_a_webm_and_shows_what_it_says(service, browser):
    """Chromium's fake camera (a moving test pattern) recorded with MediaRecorder: VP8 in WebM."""
    import time

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(service.url)
    record = browser.find_element(By.ID, "record")
    record.click()
    WebDriverWait(browser, 10).until(lambda b: record.text == "Stop and translate")
    time.sleep(2)
    record.click()
    WebDriverWait(browser, 60).until(lambda b: b.find_element(By.ID, "result").is_displayed())
    assert not browser.find_element(By.ID, "error").is_displayed()
    assert record.text == "Record from the camera" and "batch of 1" in browser.find_element(By.ID, "timings").text
