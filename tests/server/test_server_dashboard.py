"""The dashboard: pages through the ASGI app (scopes, tenant isolation, escaping), then in a real Chromium."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import APPROVAL_YAML, make_token, serving, working
from tests.server.test_server_session import login

SCREENSHOTS = Path(__file__).resolve().parents[2] / ".testrun" / "screenshots"


async def _submit(client: Any, csrf: str, query: str) -> str:
    r = await client.post("/ui/runs", data={"csrf": csrf, "team": "support", "var_query": query})
    assert r.status_code == 303, r.text
    return str(r.headers["location"])


async def test_pages_render_for_the_keys_tenant(client: Any, make_key: Any) -> None:
    csrf = await login(client, await make_key())
    location = await _submit(client, csrf, "My invoice is wrong")
    run = await client.get(location)
    assert run.status_code == 200 and "We have corrected your invoice." in run.text and "chain verified" in run.text
    assert run.headers["content-security-policy"].startswith("default-src 'none'")
    runs = await client.get("/ui/", params={"status": "completed", "team": "support"})
    assert location.rsplit("/", 1)[1][:12] in runs.text
    for path in ("/ui/teams/support/map", "/ui/usage", "/ui/audit"):
        r = await client.get(path)
        assert r.status_code == 200, path
    assert "<svg" in (await client.get("/ui/usage")).text
    svg = await client.get("/ui/teams/support/map.svg")
    assert svg.headers["content-type"] == "image/svg+xml"
    verified = await client.post("/ui/audit", data={"csrf": csrf, "action": "verify"})
    assert "Intact" in verified.text
    proof = await client.post("/ui/audit", data={"csrf": csrf, "action": "proof", "sequence": "2"})
    assert 'id="proof"' in proof.text
    missing = await client.post("/ui/audit", data={"csrf": csrf, "action": "proof", "sequence": "999"})
    assert "no audit record" in missing.text


async def test_input_is_escaped(client: Any, make_key: Any) -> None:
    csrf = await login(client, await make_key())
    location = await _submit(client, csrf, "<script>alert(1)</script>")
    page = (await client.get(location)).text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


async def test_no_text_from_the_address_is_shown_as_the_servers_own(client: Any, make_key: Any) -> None:
    # review, 2026-11-29: ?error=... was shown in the run page's alert box, a phishing line in the site's own voice
    csrf = await login(client, await make_key())
    location = await _submit(client, csrf, "q")
    lure = "Session expired: log in again at https://evil.example/login"
    for path in (location, "/ui/"):
        page = (await client.get(path, params={"error": lure})).text
        assert "evil.example" not in page, path


async def test_another_tenants_run_is_not_found(client: Any, make_key: Any) -> None:
    csrf = await login(client, await make_key("globex"))
    location = await _submit(client, csrf, "globex secret")
    client.cookies.clear()
    await login(client, await make_key("acme"))
    r = await client.get(location)
    assert r.status_code == 404 and "globex secret" not in r.text
    assert r.headers["content-type"].startswith("text/html") and "no such run" in r.text  # a page, not JSON
    assert "globex" not in (await client.get("/ui/")).text


async def test_pages_need_their_scope(client: Any, make_key: Any) -> None:
    await login(client, await make_key(scopes="runs:read"))
    assert (await client.get("/ui/")).status_code == 200
    for path in ("/ui/usage", "/ui/audit", "/ui/teams/support/map"):
        assert (await client.get(path)).status_code == 403, path
    assert "lacks the" in (await client.get("/ui/")).text  # no run form without runs:write


async def test_unknown_team_map_is_404(client: Any, make_key: Any) -> None:
    await login(client, await make_key())
    for team in ("nope", "..", "a%2F..%2Fb"):
        assert (await client.get(f"/ui/teams/{team}/map")).status_code == 404


async def test_cancel_button_is_csrf_protected_and_scoped(client: Any, make_key: Any, state: Any,
                                                          teams_dir: Path) -> None:
    from tests.server.test_server_runs import SLOW_YAML

    (teams_dir / "slow.yaml").write_text(SLOW_YAML)
    await state.reload_teams()
    token = await make_key()
    run_id, _ = await state.submit("slow", "acme", {"query": "q"})
    while (await state.run_store.get("acme", run_id)) is None:
        await asyncio.sleep(0.05)
    csrf = await login(client, token)
    page = await client.get(f"/ui/runs/{run_id}")
    assert 'id="cancel"' in page.text and 'http-equiv="refresh"' in page.text
    r = await client.post(f"/ui/runs/{run_id}/cancel", data={"csrf": "forged"})
    assert r.status_code == 403 and state.inflight  # a forged form changes nothing
    r = await client.post(f"/ui/runs/{run_id}/cancel", data={"csrf": csrf})
    assert r.status_code == 303 and r.headers["location"] == f"/ui/runs/{run_id}"
    page = await client.get(f"/ui/runs/{run_id}")
    assert 'id="run-status">cancelled<' in page.text and 'id="cancel"' not in page.text
    r = await client.post(f"/ui/runs/{run_id}/approve", data={"csrf": csrf})
    assert r.status_code == 409 and "--durable" in r.text and r.headers["content-type"].startswith("text/html")
    r = await client.post(f"/ui/runs/{run_id}/explode", data={"csrf": csrf})
    assert r.status_code == 404
    client.cookies.clear()
    await login(client, await make_key(scopes="runs:read"))
    assert 'id="cancel"' not in (await client.get(f"/ui/runs/{run_id}")).text


# --- a real browser ------------------------------------------------------------------------------


def _chromium() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = "/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@contextlib.contextmanager
def _browser() -> Iterator[Any]:
    """A headless Chromium from the system's packages, driven by Selenium; skips (or fails in CI) without one."""
    found = _chromium()
    if found is None:
        if os.environ.get("LLMTEAM_REQUIRE_SERVERS") == "1":
            pytest.fail("no Chromium/chromedriver installed (apt-get install chromium chromium-driver)")
        pytest.skip("no Chromium/chromedriver installed: apt-get install chromium chromium-driver")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--window-size=1280,900", f"--user-data-dir={tempfile.mkdtemp(prefix='llmteam-chromium-')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(found[1]), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _text(driver: Any, element_id: str) -> str | None:
    """The element's text read in one script call (one round trip, not find_element then .text), or None while the
    page has no such element."""
    script = "const e = document.getElementById(arguments[0]); return e === null ? null : e.textContent.trim();"
    text = driver.execute_script(script, element_id)
    return None if text is None else str(text)


def _until(driver: Any, condition: Any, poll: float = 0.5) -> Any:
    """Poll ``condition(driver)`` until it is true, retrying every driver error until a hang guard of 180 s (the
    machine may be loaded), not a timing check.

    A running run's page reloads itself, and a read that meets a reload fails in more ways than a stale element:
    chromedriver also answers "Node with given id does not belong to the document" (an unknown error) and "timeout
    from aborted by navigation" (a timeout); both failed CI. If the guard runs out, the error names the last one."""
    from selenium.common.exceptions import WebDriverException

    last: WebDriverException | None = None
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            value = condition(driver)
            if value:
                return value
        except WebDriverException as exc:
            last = exc
        time.sleep(poll)
    raise AssertionError(f"the page never met the condition in 180 s; the last driver error: {last!r}")


@pytest.mark.timeout(300)  # a hang guard on a loaded machine
def test_waiting_on_a_self_reloading_page_never_fails(tmp_path: Path) -> None:
    # the dashboard test waits on a page that reloads itself, as a running run's page does; a wait that retried only
    # stale elements failed about one read in a hundred here, with one of the errors _until names
    pytest.importorskip("selenium.webdriver")

    page = tmp_path / "reloading.html"
    page.write_text('<span id="run-status">running</span><script>setTimeout(() => location.reload(), 50)</script>')
    reads = itertools.count(1)
    with _browser() as driver:
        driver.get(page.as_uri())
        _until(driver, lambda d: _text(d, "run-status") == "running" and next(reads) == 300, poll=0.01)


@pytest.mark.timeout(600)  # two server processes and a browser on a loaded machine: a hang guard
def test_dashboard_in_chromium(tmp_path: Path) -> None:
    pytest.importorskip("dbos", reason="the durable extra is not installed: pip install 'llmteam[durable]'")
    pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    (tmp_path / "teams").mkdir()
    (tmp_path / "teams" / "support.yaml").write_text(APPROVAL_YAML)  # the answer step waits for a person
    token = asyncio.run(make_token(tmp_path / "llmteam.db"))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with serving(tmp_path, "--db", "sqlite:///llmteam.db", "--teams", "teams", "--durable") as base, \
            working(tmp_path, "teams/support.yaml", "--db", "sqlite:///llmteam.db"), _browser() as driver:
        driver.get(f"{base}/ui/")
        _until(driver, ec.presence_of_element_located((By.ID, "api_key"))).send_keys(token)
        driver.save_screenshot(str(SCREENSHOTS / "01-login.png"))
        driver.find_element(By.ID, "login").click()
        box = _until(driver, ec.presence_of_element_located((By.ID, "support-query")))
        box.send_keys("My invoice is wrong")
        driver.find_element(By.CSS_SELECTOR, "#run-support button[type=submit]").click()
        _until(driver, lambda d: _text(d, "run-status") == "awaiting approval")
        approval = driver.find_element(By.ID, "approval-2")
        assert "answer" in approval.text and driver.find_elements(By.ID, "cancel") == []
        driver.save_screenshot(str(SCREENSHOTS / "02-approval.png"))
        driver.find_element(By.ID, "approve").click()
        _until(driver, lambda d: _text(d, "run-status") == "completed")  # the page refreshes itself
        assert driver.find_element(By.ID, "run-output").text == "We have corrected your invoice."
        assert driver.find_element(By.ID, "chain-state").text == "chain verified"
        audit = driver.find_element(By.ID, "audit").text
        assert "approval.granted" in audit and f"key:{token.split('_')[1]}" in audit
        driver.save_screenshot(str(SCREENSHOTS / "03-run.png"))
        driver.find_element(By.LINK_TEXT, "Runs").click()
        rows = _until(driver, ec.presence_of_element_located((By.ID, "runs"))).find_elements(By.CSS_SELECTOR,
                                                                                           "tbody tr")
        assert len(rows) == 1
        driver.save_screenshot(str(SCREENSHOTS / "04-runs.png"))
        driver.find_element(By.LINK_TEXT, "Map · support").click()
        image = _until(driver, ec.presence_of_element_located((By.ID, "process-map")))
        _until(driver, lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image))
        driver.save_screenshot(str(SCREENSHOTS / "05-map.png"))
        driver.find_element(By.LINK_TEXT, "Usage").click()
        _until(driver, ec.presence_of_element_located((By.ID, "usage")))
        driver.save_screenshot(str(SCREENSHOTS / "06-usage.png"))
        driver.find_element(By.LINK_TEXT, "Audit").click()
        sign = _until(driver, ec.presence_of_element_located((By.ID, "sign")))
        sign.click()
        _until(driver, ec.staleness_of(sign))  # the page reloaded with the new checkpoint
        _until(driver, ec.presence_of_element_located((By.ID, "verify"))).click()
        result = _until(driver, ec.presence_of_element_located((By.ID, "verify-result")))
        assert result.text.startswith("Intact")
        driver.save_screenshot(str(SCREENSHOTS / "07-audit.png"))
        cookie = driver.get_cookie("lt_session")
        assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
