"""The web console in real headless Chromium against a real gunicorn (issue 19).

One walk through the pages as an analyst would take it (sign in, a broken upload's problems, a model,
deploy, Swagger UI's "try it out", the scorer with rows, CSV and an image, a job run, sign out), a
second user who sees none of it, and an administrator's Users page. The browser's performance log
records every request it made: all of them go to the service's own origin, and no Content Security
Policy violation is reported. Screenshots of each page at 1280x800 land in
``test-artifacts/screenshots`` (``OMLSVC_SCREENSHOTS`` overrides), printed at the end.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from omlsvc.config import Settings
from omlsvc.wiring import build_admin_services
from tests import modelzoo
from tests.e2e.server import ADMIN_PASSWORD, RunningService, running_service
from tests.e2e.test_jobs import call
from tests.jobdata import InputTables

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("OMLSVC_SCREENSHOTS", ROOT / "test-artifacts" / "screenshots"))
CHROMIUM = os.environ.get("OMLSVC_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("OMLSVC_CHROMEDRIVER", shutil.which("chromedriver") or "/usr/bin/chromedriver")
PASSWORDS = {"alice": "alice-pass-for-tests", "bob": "bob-pass-for-tests", "admin": ADMIN_PASSWORD}
#: Short-lived tokens, so that the walk only gets through because the console refreshes them as it is used.
TOKEN_LIFETIME_S = 20
TOKEN_PATH = "/omlusers/api/oauth2/v1/token"
#: The user the administrator adds in the Users page (issue 19's users API).
DAVE_PASSWORD = "dave-pass-for-tests"
IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]


#: The console's form controls (Swagger UI's own left aside) that have neither a label nor an aria-label.
UNLABELLED = """
return [...document.querySelectorAll('main input, main select, main textarea, main button')]
  .filter((el) => !el.closest('#swagger-ui') && el.type !== 'hidden')
  .filter((el) => el.tagName === 'BUTTON' ? !(el.textContent.trim() || el.getAttribute('aria-label'))
                                          : !(el.labels.length || el.getAttribute('aria-label')))
  .map((el) => el.outerHTML.slice(0, 120));
"""


@dataclass
class Console:
    """A Chromium window on the console, and every request the browser has made so far."""

    service: RunningService
    driver: webdriver.Chrome
    requests: list[str] = field(default_factory=list)
    responses: list[tuple[str, int]] = field(default_factory=list)
    console_messages: list[str] = field(default_factory=list)
    unlabelled: list[str] = field(default_factory=list)
    overflowing: list[str] = field(default_factory=list)

    def drain_logs(self) -> None:
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                self.requests.append(message["params"]["request"]["url"])
            elif message["method"] == "Network.responseReceived":
                response = message["params"]["response"]
                self.responses.append((response["url"], int(response["status"])))
        self.console_messages.extend(entry["message"] for entry in self.driver.get_log("browser"))

    def wait(self, condition: Callable[[webdriver.Chrome], Any], timeout: float = 20) -> Any:
        return WebDriverWait(self.driver, timeout, ignored_exceptions=[StaleElementReferenceException]).until(
            condition
        )

    def find(self, css: str, timeout: float = 20) -> WebElement:
        return self.wait(
            lambda d: next((e for e in d.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()), None),
            timeout,
        )

    def open(self, hash_path: str, heading: str) -> None:
        self.driver.get(f"{self.service.url}/console#{hash_path}")
        self.heading(heading)

    def heading(self, text: str) -> None:
        self.wait(lambda d: any(text in h.text for h in d.find_elements(By.CSS_SELECTOR, "main h1")))

    def shot(self, name: str) -> None:
        time.sleep(0.2)  # let the last frame paint
        self.driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
        self.unlabelled.extend(f"{name}: {control}" for control in self.driver.execute_script(UNLABELLED))
        overflow = self.driver.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth"
        )
        if overflow > 0:
            self.overflowing.append(f"{name}: {overflow} px")

    def sign_in(self, user: str) -> None:
        self.driver.get(f"{self.service.url}/")
        self.find("input[name=username]").send_keys(user)
        self.find("input[name=password]").send_keys(PASSWORDS[user])
        self.find("form.sign-in button[type=submit]").click()
        self.heading("Models")

    def sign_out(self) -> None:
        self.find("#sign-out").click()
        self.find("form.sign-in")

    def fill(self, css: str, text: str) -> None:
        element = self.find(css)
        element.clear()
        element.send_keys(text)

    def upload(self, path: Path, name: str, model_type: str = "ONNX") -> None:
        self.find("input[type=file][name=modelData]").send_keys(str(path))
        self.fill("input[name=modelName]", name)
        self.fill("input[name=version]", "1")
        Select(self.find("select[name=modelType]")).select_by_value(model_type)
        self.find("form.upload button[type=submit]").click()

    def drop_file(self, path: Path) -> None:
        """Drop ``path`` on the upload form's drop zone, as a file dragged from the desktop arrives."""
        self.driver.execute_script(
            """
            const [name, text] = arguments;
            const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: 'application/zip' }));
            const zone = document.querySelector('.drop-zone');
            zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: transfer, bubbles: true, cancelable: true }));
            zone.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
            """,
            path.name,
            base64.b64encode(path.read_bytes()).decode(),
        )
        self.wait(lambda d: path.name in d.find_element(By.CSS_SELECTOR, ".drop-zone .chosen").text)

    def score_json(self) -> Any:
        return json.loads(self.find("#score-json").text)


def _api_status(service: RunningService, token: str, path: str) -> int:
    """The status of a GET with ``token``, as any API client (not the browser) gets it."""
    request = urllib.request.Request(service.url + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def set_viewport(driver: webdriver.Chrome, width: int, height: int) -> None:
    """Make the page's viewport (not the window around it) ``width`` x ``height``."""
    driver.set_window_size(width, height)
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    driver.set_window_size(2 * width - inner[0], 2 * height - inner[1])


@dataclass
class Served:
    """The running service, and the table of iris rows Alice's jobs may read."""

    service: RunningService
    iris_table: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data_dir = tmp_path_factory.mktemp("console") / "data"
    environ = {"OMLSVC_JOB_POLL": "0.2", "OMLSVC_TOKEN_LIFETIME": str(TOKEN_LIFETIME_S)}
    with running_service(data_dir, workers=1, threads=8, environ=environ) as running:
        # what `omlsvc users add` and `omlsvc tables grant` do, in this process (no interpreter to start)
        admin = build_admin_services(Settings.from_env({"OMLSVC_DATA_DIR": str(data_dir)}))
        try:
            for user in ("alice", "bob"):
                admin.auth.add_user(user, PASSWORDS[user], "developer")
            table = InputTables(admin.engine).features("iris_in", modelzoo._iris()[0])
            admin.table_grants.grant(table, "alice", "admin")
        finally:
            admin.engine.dispose()
        yield Served(running, table)


@pytest.fixture(scope="module")
def service(served: Served) -> RunningService:
    return served.service


@pytest.fixture(scope="module")
def console(service: RunningService) -> Iterator[Console]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail(
            f"The console tests need chromium and chromedriver ({CHROMIUM}, {CHROMEDRIVER}): "
            "apt-get install -y chromium chromium-driver"
        )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--window-size=1280,800",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    set_viewport(driver, 1280, 800)
    opened = Console(service, driver)
    try:
        yield opened
    finally:
        driver.quit()
        print(f"\nconsole screenshots: {SCREENSHOTS}")


def test_the_console_files_carry_a_strict_policy_and_cache_validators(service: RunningService) -> None:
    with urllib.request.urlopen(service.url + "/console", timeout=10) as page:
        policy = page.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy
        assert page.headers["Content-Type"] == "text/html; charset=utf-8"
        html = page.read().decode()
    for src in ("/console/assets/app.js", "/console/assets/console.css"):
        assert src in html
    request = urllib.request.Request(
        service.url + "/console/assets/swagger-ui-bundle.js", headers={"Accept-Encoding": "gzip"}
    )
    with urllib.request.urlopen(request, timeout=10) as script:
        assert script.headers["Content-Type"] == "text/javascript; charset=utf-8"
        assert script.headers["Content-Encoding"] == "gzip"
        assert script.headers["Cache-Control"] == "no-cache"
        etag = script.headers["ETag"]
    again = urllib.request.Request(
        service.url + "/console/assets/swagger-ui-bundle.js", headers={"If-None-Match": etag}
    )
    with pytest.raises(urllib.error.HTTPError) as not_modified:
        urllib.request.urlopen(again, timeout=10)
    not_modified.value.close()
    assert not_modified.value.code == 304
    assert urlsplit(service.url).scheme == "http"


def test_unknown_console_files_are_404(service: RunningService) -> None:
    for name in ("..%2Fconsole.py", "index.html", "nope.js", "swagger-ui.js"):
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{service.url}/console/assets/{name}", timeout=10)
        missing.value.close()
        assert missing.value.code == 404


def test_a_browser_opening_the_root_lands_on_the_console(service: RunningService) -> None:
    with urllib.request.urlopen(service.url + "/", timeout=10) as landed:
        assert landed.url == service.url + "/console"
        assert "<title>omlsvc console</title>" in landed.read().decode()


def test_an_analyst_walks_through_the_console(
    console: Console, served: Served, service: RunningService, tmp_path: Path
) -> None:
    try:
        console.sign_in("alice")
        console.drain_logs()

        # a broken package: every problem the service found is listed next to the upload form
        broken = modelzoo.write_zip(
            tmp_path / "broken.zip", {"model.onnx": b"not an onnx graph", "metadata.json": b"{}"}
        )
        console.drop_file(broken)
        console.fill("input[name=version]", "1")
        console.find("form.upload button[type=submit]").click()
        problems = console.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "form.upload .error .problems li"))
        assert len(problems) == 2  # the metadata and the graph: every problem, one answer
        assert any("function" in problem.text for problem in problems)
        assert "INVALID_MODEL" in console.find("form.upload .error").text
        console.shot("models-upload-problems")

        # a good one: stored, then its details
        iris = modelzoo.make_zipmap_classifier_zip(tmp_path)
        console.upload(iris.zip_path, "iris")
        console.heading("iris 1")
        model_id = console.driver.current_url.rsplit("/", 1)[1]
        assert "float_input" in console.find("main").text
        console.shot("model-details")

        # deploy it from its page, then score rows typed in the generated form
        console.fill("form.inline input[name=uri]", "iris_c")
        console.find("form.inline button[type=submit]").click()
        console.heading("iris_c")
        for cell, value in zip(
            console.driver.find_elements(By.CSS_SELECTOR, "input.cell"), IRIS_ROWS[0], strict=True
        ):
            cell.send_keys(str(value))
        console.find("form.scorer button[type=submit]").click()
        api_rows = call(
            service,
            service.token("alice", PASSWORDS["alice"]),
            "POST",
            "/omlmod/v1/deployment/iris_c/score",
            {"inputRecords": [{"float_input": [IRIS_ROWS[0]]}]},
        )
        assert console.score_json() == api_rows
        assert len(console.driver.find_elements(By.CSS_SELECTOR, ".bars li")) == 3
        console.shot("scorer")

        # the same model with pasted CSV (a header line is skipped)
        csv = "a,b,c,d\n" + "\n".join(",".join(str(v) for v in row) for row in IRIS_ROWS)
        console.fill("textarea[name=csv]", csv)
        previous = console.find("#score-json").text
        console.find("form.scorer button[type=submit]").click()
        console.wait(lambda d: d.find_element(By.ID, "score-json").text != previous)
        api_csv = call(
            service,
            service.token("alice", PASSWORDS["alice"]),
            "POST",
            "/omlmod/v1/deployment/iris_c/score",
            {"inputRecords": [{"float_input": [row]} for row in IRIS_ROWS]},
        )
        assert console.score_json() == api_csv

        # the deployment's OpenAPI document in Swagger UI; "try it out" sends the console's token
        console.find("nav.tabs a[href$='/api']").click()
        console.find("#swagger-ui .opblock-post .opblock-summary").click()
        console.find("#swagger-ui .try-out__btn").click()
        body = console.find("#swagger-ui textarea.body-param__text")
        body.clear()
        body.send_keys(json.dumps({"inputRecords": [{"float_input": [IRIS_ROWS[1]]}]}))
        console.find("#swagger-ui button.execute").click()
        status = console.find("#swagger-ui .live-responses-table tr.response .response-col_status")
        assert status.text.strip() == "200"
        answer = console.find("#swagger-ui .live-responses-table tr.response .response-col_description").text
        assert "classifications" in answer
        console.driver.execute_script(
            "document.querySelector('#swagger-ui .live-responses-table').scrollIntoView({block: 'center'})"
        )
        console.shot("deployment-swagger-ui")

        # an image model: upload, deploy, pick a picture, see the preview and the same classes as the API
        image = modelzoo.make_image_classifier_zip(tmp_path)
        console.open("/models", "Models")
        console.upload(image.zip_path, "pets", "ONNX_IMG")
        console.heading("pets 1")
        console.fill("form.inline input[name=uri]", "pets")
        console.find("form.inline button[type=submit]").click()
        console.heading("pets")
        picture = tmp_path / "pet.png"
        picture.write_bytes(modelzoo._png())
        console.find("input[type=file][name=imageData]").send_keys(str(picture))
        console.wait(
            lambda d: d.find_element(By.CSS_SELECTOR, "img.preview").get_property("naturalWidth") == 16
        )
        console.find("form.scorer button[type=submit]").click()
        with picture.open("rb") as handle:
            from tests.api.forms import multipart

            form, content_type = multipart({}, {"imageData": ("pet.png", handle.read())})
        api_image = call(
            service,
            service.token("alice", PASSWORDS["alice"]),
            "POST",
            "/omlmod/v1/deployment/pets/score",
            form,
            **{"Content-Type": content_type},
        )
        assert console.score_json() == api_image
        console.shot("image-scorer")

        # a batch job from the form, run now, its rows counted
        table = served.iris_table
        console.open("/jobs/new", "New scoring job")
        console.fill("input[name=jobName]", "nightly_iris")
        Select(console.find("select[name=modelId]")).select_by_value(model_id)
        console.fill("input[name=inputData]", table)
        console.fill("input[name=outputData]", "scores")
        console.fill("input[name=supplementalColumnNames]", "id, species")
        console.fill("input[name=jobStartDate]", "2099-01-01T00:00:00Z")
        console.find("form button[type=submit]").click()
        console.heading("nightly_iris")
        console.wait(
            lambda d: any(b.text == "Run now" for b in d.find_elements(By.CSS_SELECTOR, "main button"))
        )
        next(
            b for b in console.driver.find_elements(By.CSS_SELECTOR, "main button") if b.text == "Run now"
        ).click()
        console.wait(lambda d: "SUCCEEDED" in d.find_element(By.CSS_SELECTOR, "main table").text, timeout=40)
        first_run = console.driver.find_elements(By.CSS_SELECTOR, "main table tbody tr")[0]
        assert first_run.find_elements(By.TAG_NAME, "td")[1].text == "150"
        console.shot("job-runs")

        # the lists, each at 1280x800
        console.open("/models", "Models")
        console.shot("models")
        console.open("/deployments", "Deployments")
        assert "iris_c" in console.find("main table").text
        console.shot("deployments")
        console.open("/jobs", "Jobs")
        assert "nightly_iris" in console.find("main table").text
        console.shot("jobs")

        # a token in use is refreshed before it runs out: Alice's walk so far used hers, so
        # within one lifetime of her sign-in the browser has asked for a fresh one (however fast the walk went)
        def refreshed(_: webdriver.Chrome) -> bool:
            console.drain_logs()
            return [status for url, status in console.responses if url.endswith(TOKEN_PATH)].count(200) > 1

        console.wait(refreshed, timeout=TOKEN_LIFETIME_S + 10)

        # back and forward walk the pages; a reload forgets the token (it lived in memory only) and,
        # once signed in again, shows the same page
        console.driver.back()
        console.heading("Deployments")
        console.driver.forward()
        console.heading("Jobs")
        console.driver.refresh()
        console.fill("input[name=username]", "alice")
        console.fill("input[name=password]", PASSWORDS["alice"])
        console.find("form.sign-in button[type=submit]").click()
        console.heading("Jobs")
        assert console.driver.current_url.endswith("#/jobs")

        # sign out revokes the token
        console.sign_out()
        console.drain_logs()
        revoked = [
            status
            for url, status in console.responses
            if url.endswith("/omlusers/api/oauth2/v1/token/revoke")
        ]
        assert revoked == [200]

        # Bob sees none of Alice's private models, not in the list and not by their id
        console.sign_in("bob")
        listed = console.find("main table").text
        assert "iris" not in listed and "pets" not in listed
        console.open(f"/models/{model_id}", "Could not load")
        assert "NOT_FOUND" in console.find("main .error").text
        console.sign_out()

        # an administrator adds a user on the Users page; that user signs in; disabled from the same
        # page, their next API call is refused (the same service call as `omlsvc users disable`)
        console.sign_in("admin")
        console.open("/users", "Users")
        assert "alice" in console.find("main table").text
        console.fill("input[name=name]", "dave")
        console.fill("input[name=password]", DAVE_PASSWORD)
        console.find("#add-user").click()
        console.find("button[aria-label='Disable dave']")
        dave = service.token("dave", DAVE_PASSWORD)
        assert _api_status(service, dave, "/omlmod/v1/models") == 200
        console.shot("users")
        console.find("button[aria-label='Disable dave']").click()
        console.find("button[aria-label='Enable dave']")
        assert _api_status(service, dave, "/omlmod/v1/models") == 401
        set_viewport(console.driver, 390, 844)
        console.open("/models", "Models")
        console.shot("models-phone")
        set_viewport(console.driver, 1280, 800)

        console.drain_logs()
        # four sign-ins; every other token the browser got was a refresh while the walk went on
        issued = [status for url, status in console.responses if url.endswith(TOKEN_PATH)]
        assert issued.count(200) > 4 and set(issued) == {200}, issued
        origin = service.url
        elsewhere = [u for u in console.requests if not u.startswith((origin + "/", "data:", "blob:"))]
        assert console.requests and not elsewhere, elsewhere
        assert not console.unlabelled, console.unlabelled
        assert not console.overflowing, console.overflowing  # no page scrolls sideways, phone included
        violations = [m for m in console.console_messages if "Content Security Policy" in m]
        assert not violations, violations
    except BaseException:
        console.shot("failure")  # what the browser showed when it failed
        raise
