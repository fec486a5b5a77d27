"""The demo page in a real browser (headless Chromium driven by selenium): a whole story
played as a care team would, asserting on what the page shows. The page talks to the real
app only through signed Slack requests and the stand-in's Web API, so this is also an
end-to-end test of the app over HTTP.

Skipped when Chromium or chromedriver is not installed (`.ci/run` installs them).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from devtools.demo.clock import find_library
from devtools.process import free_port

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (make install)")
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# README's screenshots: `make screenshots` sets DEMO_SCREENSHOTS=docs; otherwise they go to a
# temporary directory, so running the tests does not change the work tree.
SCREENSHOTS = Path(
    os.environ.get("DEMO_SCREENSHOTS") or Path(tempfile.gettempdir()) / "carethread-demo-screens"
)

CARD = ("Case C-1", "Everything about this case happens in this thread")  # the case card's text

pytestmark = [
    pytest.mark.skipif(
        not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
        reason="Chromium or chromedriver is missing (Debian: apt-get install chromium chromium-driver)",
    ),
    pytest.mark.skipif(
        find_library() is None,
        reason="libfaketime is not installed (Debian: apt-get install faketime); the story moves the clock",
    ),
]


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except OSError:
        return 0


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator[str]:
    """`python -m devtools.demo` as `make demo` runs it, on free ports."""
    port = free_port()
    workdir = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CARETHREAD_", "DATABASE_URL"))}
    # Slack gives a trigger_id 3 s; here Chromium, the demo and the app share the machine's
    # cores, and the app's first form after start-up has been measured at 3.8 s.
    env["DEMO_TRIGGER_SECONDS"] = "15"
    output = workdir / "demo.out"
    with output.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "devtools.demo", "--port", str(port), "--data-dir", str(workdir)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while _get(url + "/") != 200:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the demo did not start: {output.read_text()}")
        time.sleep(0.2)
    yield url
    process.send_signal(signal.SIGINT)  # Ctrl-C
    process.wait(timeout=30)
    printed = output.read_text()
    assert process.returncode == 0, printed
    assert f"CareThread demo on {url}" in printed
    app_port = (
        int(printed.split("app on http://127.0.0.1:")[1].split(",")[0]) if "app on" in printed else None
    )
    if app_port is not None:
        assert _get(f"http://127.0.0.1:{app_port}/healthz") == 0, "the app outlived the demo"


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1440,900",
    ):
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="chromium-")
    downloads = tempfile.mkdtemp(prefix="downloads-")
    options.add_argument(f"--user-data-dir={profile}")
    options.add_experimental_option(
        "prefs", {"download.default_directory": downloads, "download.prompt_for_download": False}
    )
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except WebDriverException as exc:
        pytest.skip(f"Chromium could not be started: {exc.msg}")
    driver.downloads = downloads  # type: ignore[attr-defined]
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)
    shutil.rmtree(downloads, ignore_errors=True)


class Page:
    """What a person does in the demo page, and waiting for what it then shows."""

    def __init__(self, driver, url: str) -> None:
        self.d, self.url = driver, url

    def wait(self, condition, timeout: float = 20, message: str = ""):
        def safe(driver):
            try:
                return condition(driver)
            except StaleElementReferenceException:
                return False

        return WebDriverWait(self.d, timeout, poll_frequency=0.1).until(safe, message)

    def css(self, selector: str):
        return self.d.find_elements(By.CSS_SELECTOR, selector)

    def be(self, user_id: str) -> None:
        Select(self.d.find_element(By.ID, "who")).select_by_value(user_id)
        self.wait(lambda d: self._me_is(user_id), message=f"the page did not switch to {user_id}")

    def _me_is(self, user_id: str) -> bool:
        return self.d.execute_script("return S.state && S.state.me") == user_id

    def click_css(self, selector: str) -> None:
        """Click what `selector` finds, again if the page re-drew it meanwhile."""

        def clicked(_d):
            found = self.css(selector)
            if not found:
                return False
            found[0].click()
            return True

        self.wait(clicked, message=f"nothing to click at {selector}")

    def channel(self, channel_id: str) -> None:
        self.click_css(f'.nav-item[data-channel="{channel_id}"]')
        self.wait(lambda d: self.css(f'.nav-item.active[data-channel="{channel_id}"]'))

    def app(self, tab: str) -> None:
        self.click_css('.nav-item[data-nav="app"]')
        self.click_css(f'#app-tabs button[data-tab="{tab}"]')

    def type(self, text: str, *, thread: bool = False) -> None:
        box = self.d.find_element(By.ID, "thread-composer" if thread else "composer")
        box.send_keys(text)
        box.send_keys(Keys.ENTER)

    def message(self, *texts: str, where: str = "#messages", timeout: float = 20):
        """The last message in `where` (#messages or #thread-messages) showing all `texts`
        (ignoring case)."""

        def found(_d):
            hits = [m for m in self.css(f"{where} .msg") if all(t.lower() in m.text.lower() for t in texts)]
            return hits[-1] if hits else False

        return self.wait(found, timeout, f"no message with {texts!r} in {where}")

    def modal(self, title: str):
        return self.wait(
            lambda d: (m := self.css("#modal-backdrop:not([hidden]) #modal")) and title in m[0].text and m[0],
            message=f"no modal {title!r}",
        )

    def block(self, block_id: str):
        return self.d.find_element(By.CSS_SELECTOR, f'#modal .bk-input[data-block-id="{block_id}"]')

    def fill(self, block_id: str, text: str) -> None:
        field = self.block(block_id).find_element(By.CSS_SELECTOR, "input, textarea")
        field.clear()
        field.send_keys(text)

    def pick(self, block_id: str, *, index: int | None = None, text: str | None = None) -> None:
        select = Select(self.block(block_id).find_element(By.TAG_NAME, "select"))
        if text is not None:
            select.select_by_visible_text(text)
        else:
            select.select_by_index(index or 1)

    def choose(self, block_id: str, label: str) -> None:
        """A checkbox or radio button, by (the start of) its label."""
        for choice in self.block(block_id).find_elements(By.CSS_SELECTOR, ".bk-choice"):
            if choice.text.startswith(label):
                choice.find_element(By.TAG_NAME, "input").click()
                return
        raise AssertionError(f"no choice {label!r} in {block_id}")

    def choose_first(self, block_id: str) -> str:
        choice = self.block(block_id).find_element(By.CSS_SELECTOR, ".bk-choice")
        choice.find_element(By.TAG_NAME, "input").click()
        return choice.text

    def date(self, block_id: str, value: str) -> None:
        field = self.block(block_id).find_element(By.CSS_SELECTOR, "input[type=date]")
        self.d.execute_script(
            "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('change'))", field, value
        )

    def people(self, block_id: str, *handles: str) -> None:
        for handle in handles:
            self.block(block_id).find_element(By.XPATH, f'.//button[text()="@{handle}"]').click()

    def submit(self) -> None:
        self.d.find_element(By.CSS_SELECTOR, "#modal .modal-submit").click()

    def modal_closed(self) -> None:
        self.wait(lambda d: not self.css("#modal-backdrop:not([hidden])"), message="the modal stayed open")

    def click(self, texts: tuple[str, ...], label: str, where: str = "#messages") -> None:
        """Click the button `label` in the last message showing `texts`."""

        def clicked(_d):
            self.message(*texts, where=where).find_element(
                By.XPATH, f'.//button[normalize-space()="{label}"]'
            ).click()
            return True

        self.wait(clicked, message=f"no button {label!r}")

    def open_thread(self, *texts: str) -> None:
        """Open the thread of the channel message showing `texts` (its hover "reply" button)."""

        def clicked(_d):
            button = self.message(*texts).find_element(By.CSS_SELECTOR, ".reply-action")
            self.d.execute_script("arguments[0].click()", button)
            return True

        self.wait(clicked)
        self.wait(lambda d: self.css("#thread:not([hidden])"), message="the thread did not open")

    def screenshot(self, name: str) -> None:
        folder = SCREENSHOTS if SCREENSHOTS.is_absolute() else ROOT / SCREENSHOTS
        folder.mkdir(parents=True, exist_ok=True)
        assert self.d.save_screenshot(str(folder / name))

    def app_now(self, tz: str = "America/New_York") -> datetime:
        """The app's clock (moved by the page's clock control), in a person's time zone."""
        now = self.d.execute_script("return S.state.clock.now + (Date.now() - S.fetchedAt) / 1000")
        return datetime.fromtimestamp(now, UTC).astimezone(ZoneInfo(tz))

    def app_today(self) -> str:
        return self.app_now().date().isoformat()

    def advance(self, seconds: int) -> None:
        before = self.app_now()
        self.d.find_element(By.CSS_SELECTOR, f'button[data-advance="{seconds}"]').click()
        self.wait(
            lambda d: (self.app_now() - before).total_seconds() >= seconds, message="the clock did not move"
        )


def test_a_care_team_story(demo, browser):
    page = Page(browser, demo)
    browser.get(demo)
    try:
        _story(page)
    except Exception:
        browser.save_screenshot(str(Path(tempfile.gettempdir()) / "demo-story-failure.png"))
        raise


def _story(page: Page) -> None:
    # A case and its team, with the form /case create opens.
    page.be("U0PRIYA")
    page.channel("C0CARE")
    page.type("/case create")
    page.modal("New case")
    page.fill("label", "Blue Heron")
    page.pick("my_role", text="Prescriber")
    page.people("members_therapist", "tom")
    page.people("members_case-manager", "carmen")
    page.people("members_pcp", "paul")
    page.people("members_pharmacist", "fiona")
    page.fill("medications", "sertraline 50 mg every morning")
    page.submit()
    page.modal_closed()
    page.message("Blue Heron", "C-1", "Tom Rivera", "Carmen Lopez", "Dr. Paul Chen", "Fiona Adeyemi")
    page.type("/case show C-1")
    page.message("Only visible to you", "Blue Heron", "sertraline")

    # Someone outside the team is refused, and learns nothing.
    page.be("U0OMAR")
    page.channel("C0GENERAL")
    page.type("/case show C-1")
    refusal = page.message("Only visible to you")
    assert "Blue Heron" not in refusal.text and "sertraline" not in refusal.text

    # An urgent side-effect report from the therapist, in the form /sideeffect opens.
    page.be("U0TOM")
    page.channel("C0CARE")
    page.type("/sideeffect C-1")
    page.modal("Report a side effect")
    page.pick("se_medication", index=1)
    page.choose_first("se_symptoms_0")
    page.date("se_onset", page.app_today())
    page.pick("se_frequency", index=4)
    page.pick("se_intensity", index=4)
    page.pick("se_burden", index=3)
    red_flag = page.choose_first("se_red_flags_0")
    page.screenshot("demo-modal.png")
    page.submit()
    page.modal_closed()
    page.open_thread(*CARD)
    page.message(
        "Side-effect report", "Urgent", red_flag.split("(")[0].strip()[:30], where="#thread-messages"
    )

    # The prescriber acknowledges from the DM, then records a plan; the thread follows.
    page.be("U0PRIYA")
    page.app("messages")
    page.message("urgent side-effect report on C-1", "Suicidal")
    page.screenshot("demo-dm.png")
    page.click(("urgent side-effect report on C-1", "Suicidal"), "Acknowledge")
    page.click(("side-effect report on C-1", "acknowledged by"), "Record plan")
    page.modal("Record plan")
    plan = page.choose_first("se_plan")
    page.fill("se_plan_note", "Seen today; safety plan reviewed; call tomorrow.")
    page.submit()
    page.modal_closed()
    page.channel("C0CARE")
    page.open_thread(*CARD)
    page.message("Side-effect report", plan.split("(")[0].strip()[:20], where="#thread-messages")

    # A case review, daily from tomorrow: two days later it is due, two updates, a decision.
    page.type("/review C-1 every 1 days")
    page.message("Only visible to you", "Reviews of C-1", "every day")
    page.advance(86400)
    page.advance(86400)
    prompt = ("Case review", "C-1", "Add my update")
    page.message(*prompt, where="#thread-messages", timeout=30)
    page.be("U0TOM")
    page.channel("C0CARE")
    page.open_thread(*CARD)
    page.click(prompt, "Add my update", where="#thread-messages")
    page.modal("update")
    page.fill("review_sessions", "3")
    page.fill("review_progress", "Sleeping better; mood lifting.")
    page.fill("review_phq9", "14")
    page.submit()
    page.modal_closed()
    page.message("Updates (1 of", where="#thread-messages")
    page.be("U0PRIYA")
    page.channel("C0CARE")
    page.open_thread(*CARD)
    page.click(prompt, "Add my update", where="#thread-messages")
    page.modal("update")
    page.pick("review_adherence", index=1)
    page.fill("review_regimen", "sertraline 50 mg every morning")
    page.submit()
    page.modal_closed()
    page.message("Updates (2 of", where="#thread-messages")
    page.click(prompt, "Record decision", where="#thread-messages")
    page.modal("Review decision")
    page.pick("review_decision", index=1)
    page.fill("review_decision_note", "Continue; review again in a week.")
    page.submit()
    page.modal_closed()
    page.message("Review complete", "Decision:", where="#thread-messages")
    page.screenshot("demo-channel.png")

    # A handoff: cover for a week to a colleague outside the team, accepted with a read-back.
    page.type("/handoff C-1 @omar prescriber")
    page.modal("Handoff")
    page.choose("severity", "Watcher")
    page.fill("summary", "Depression, on sertraline; urgent report today, plan recorded.")
    page.fill("actions", "Call the patient tomorrow; check sleep and mood.")
    page.fill("awareness", "If suicidal thoughts return, urgent evaluation the same day.")
    page.choose("handoff_kind", "Coverage")
    page.date("coverage_end", (page.app_now() + timedelta(days=7)).date().isoformat())
    page.submit()
    page.modal_closed()
    page.be("U0OMAR")
    page.app("messages")
    page.click(("C-1", "Watcher"), "Accept")
    page.modal("Accept handoff")
    read_back = "Covering C-1 for a week: call tomorrow, urgent evaluation if suicidal thoughts return."
    page.fill("synthesis", read_back)
    page.submit()
    page.modal_closed()
    page.be("U0PRIYA")
    page.channel("C0CARE")
    page.open_thread(*CARD)
    page.message("accepted", read_back, where="#thread-messages")

    # The audit trail, exported as CSV to the DM and downloaded from there.
    page.type("/audit C-1 export csv")
    page.app("messages")
    link = page.wait(lambda d: (f := page.css("#messages a.file")) and ".csv" in f[-1].text and f[-1])
    name = link.find_element(By.CSS_SELECTOR, ".file-name").text
    assert "C-1" in name or "c-1" in name.lower()
    link.click()
    downloads = Path(page.d.downloads)
    done = page.wait(
        lambda d: (f := downloads / name).exists() and f.stat().st_size > 0 and f, 20, "no download"
    )
    csv_text = done.read_text()
    assert csv_text.splitlines()[0].count(",") >= 3
    assert "side_effect" in csv_text and "handoff" in csv_text and "review" in csv_text
