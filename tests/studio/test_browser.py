"""The page in a real browser: Debian's chromium driven by Selenium through chromedriver.

Label a batch with the keyboard (including a reason typed in the page), see the model refit and
its cross-validated accuracy appear, check that hostile markup in responses is shown as text and
never run, export, and check the database. Outside CI the test is skipped when chromium,
chromium-driver or selenium is missing; in CI (CI=true) it fails instead.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from prefspace.cli import main
from prefspace.studio import LabelStore, StudioConfig, StudioServer, build_studio, create_studio_app

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
]


def _browser_or_skip():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        selenium_ok = False
    else:
        selenium_ok = True
    missing = [
        name
        for name, ok in (
            ("chromium", chromium),
            ("chromedriver", driver),
            ("selenium", selenium_ok),
        )
        if not ok
    ]
    if missing:
        msg = (
            f"the browser test needs {', '.join(missing)}: apt-get install chromium chromium-driver; "
            "pip install selenium (the test extra)"
        )
        if IN_CI:
            pytest.fail(msg + " (CI=true: .ci/run must install them)")
        pytest.skip(msg + "; skipped outside CI")
    return chromium, driver


@pytest.fixture
def browser(tmp_path):
    chromium, driver_path = _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in FLAGS + [f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path)}"]:
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


# what is pressed, in order, and the label each key means
KEYS = [
    ("a", "a"),
    ("b", "b"),
    ("t", "tie"),
    ("ARROW_LEFT", "a"),
    ("ARROW_RIGHT", "b"),
    ("ARROW_DOWN", "tie"),
    ("1", "a"),
    ("2", "b"),
    ("s", "skip"),
    ("a", "a"),
    ("b", "b"),
    ("a", "a"),
]
REASON_AT = 4  # before the fifth pair, type a reason


def test_label_a_batch_with_the_keyboard(browser, hostile_pool, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    db = tmp_path / "labels.sqlite"
    studio = build_studio(
        hostile_pool["pool"],
        db,
        id_key="id",
        features=hostile_pool["features"],
        prompt_features=hostile_pool["prompt_features"],
        config=StudioConfig(batch_size=len(KEYS), explore=0.25, strategy="d-optimal"),
    )
    wait = WebDriverWait(browser, 60)
    body = lambda: browser.find_element(By.TAG_NAME, "body")  # noqa: E731
    text = lambda el_id: browser.find_element(By.ID, el_id).text  # noqa: E731
    with StudioServer(create_studio_app(studio)) as server:
        browser.get(server.url + "/")
        assert browser.title == "prefspace labeling studio"
        # a fresh browser has no name: the page asks for one and leases nothing until it has it
        wait.until(lambda d: body().get_attribute("data-needs-name") == "1")
        assert not body().get_attribute("data-pair") and "Type your name" in text("prompt")
        assert studio.state().progress.judgments == 0 and not any(
            p.leases for p in studio._pairs.values()
        )
        name = browser.find_element(By.ID, "annotator")
        name.click()
        name.send_keys("alice", Keys.ESCAPE)  # Escape leaves the box; the name is taken
        wait.until(
            lambda d: (
                d.execute_script("return localStorage.getItem('prefspace-annotator')") == "alice"
            )
        )
        wait.until(lambda d: body().get_attribute("data-pair"))

        # responses carry <script>, <img onerror> and Markdown: the Markdown is rendered, the markup
        # is shown as text and never run
        shown = text("response-a") + text("response-b")
        assert "<script>document.title='pwned'</script>" in shown and "**bold**" not in shown
        assert [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#response-a strong")] == [
            "bold"
        ]
        assert not browser.find_elements(
            By.CSS_SELECTOR,
            "#response-a script, #response-a img, #response-b script, "
            "#response-b img, #prompt script, #prompt img",
        )

        seen = []
        for i, (key, _) in enumerate(KEYS):
            pid = body().get_attribute("data-pair")
            seen.append(pid)
            if i == REASON_AT:
                ActionChains(browser).send_keys("r").perform()  # R focuses the reason box
                assert browser.switch_to.active_element.get_attribute("id") == "reason"
                ActionChains(browser).send_keys("shorter and correct", Keys.ESCAPE).perform()
            ActionChains(browser).send_keys(getattr(Keys, key) if key.isupper() else key).perform()
            wait.until(lambda d: body().get_attribute("data-pair") not in ("", pid))
            if (
                i < len(KEYS) - 1
            ):  # the page's counter follows (this annotator's labels, skips not counted)
                expected = str(sum(lab != "skip" for _, lab in KEYS[: i + 1]))
                wait.until(lambda d: text("progress-session") == expected)

        # the batch is done: the model is refitted in the background, the next batch comes
        wait.until(lambda d: body().get_attribute("data-model-version") == "1")
        wait.until(lambda d: "%" in text("model-accuracy"))
        assert "(batch 2)" in text("progress-batch")
        assert text("model-labels") == f"{sum(lab in 'ab' for _, lab in KEYS)} labels"
        # the refit is news, not an error; one point is not drawn as a curve
        wait.until(lambda d: "refitted" in text("notice"))
        assert "refitted" not in text("message")
        assert not browser.find_elements(By.CSS_SELECTOR, "#curve svg")
        assert "after the next refit" in text("curve")
        assert browser.title == "prefspace labeling studio"  # no script from a response ever ran
        browser.save_screenshot(str(tmp_path / "studio.png"))
        assert (tmp_path / "studio.png").stat().st_size > 10_000

        # export while the studio is still running (WAL readers do not block it)
        out = tmp_path / "pairs.jsonl"
        try:
            main(["label", "export", str(db), "--out", str(out)])
        except SystemExit as exc:
            assert exc.code == 0
    studio.store.close()

    with LabelStore(db, readonly=True) as store:
        js = store.judgments()
        models = store.models()
        batch1 = {p["pair_id"]: p for p in store.pairs(batch=1)}
    assert [j["pair_id"] for j in js] == seen and len(set(seen)) == len(KEYS)
    assert [j["label"] for j in js] == [lab for _, lab in KEYS]
    assert {j["annotator"] for j in js} == {"alice"}
    assert [j["reason"] for j in js][REASON_AT] == "shorter and correct"
    assert sum(j["reason"] is not None for j in js) == 1
    assert all(j["seconds"] is not None and j["strategy"] in ("random",) for j in js)
    assert set(batch1) == set(seen)
    assert models[0]["version"] == 1 and models[0]["n_labels"] == sum(
        lab in "ab" for _, lab in KEYS
    )
    rows = out.read_text().splitlines()
    assert len(rows) == sum(lab in "ab" for _, lab in KEYS)


def test_undo_reopening_and_a_stale_pair_in_the_browser(browser, small_pool, tmp_path):
    """A name given once holds in a new tab and after a reload, with its reservation; undo takes a
    judgment back; a tab whose pair was judged elsewhere says so without a key being pressed."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    studio = build_studio(
        small_pool["pool"],
        tmp_path / "labels.sqlite",
        id_key="id",
        features=small_pool["features"],
        prompt_features=small_pool["prompt_features"],
        config=StudioConfig(batch_size=6, strategy="random"),
    )
    wait = WebDriverWait(browser, 60)
    body = lambda: browser.find_element(By.TAG_NAME, "body")  # noqa: E731
    text = lambda el_id: browser.find_element(By.ID, el_id).text  # noqa: E731
    pair_shown = lambda: body().get_attribute("data-pair")  # noqa: E731
    with StudioServer(create_studio_app(studio)) as server:
        browser.get(server.url + "/?annotator=bob")  # a link may carry the name
        wait.until(lambda d: pair_shown())
        first_tab, first = browser.current_window_handle, pair_shown()

        # a new tab: same annotator, same reserved pair
        browser.switch_to.new_window("tab")
        browser.get(server.url + "/")
        wait.until(lambda d: pair_shown())
        assert pair_shown() == first
        assert browser.find_element(By.ID, "annotator").get_attribute("value") == "bob"

        # judge it here, then undo: the pair comes back, the database forgets the judgment
        ActionChains(browser).send_keys("a").perform()
        wait.until(lambda d: pair_shown() not in ("", first))
        second = pair_shown()
        assert [j["label"] for j in studio.store.judgments()] == ["a"]
        ActionChains(browser).send_keys("u").perform()
        wait.until(lambda d: pair_shown() == first)
        assert "Undone" in text("notice") and "A is better" in text("notice")
        assert studio.store.judgments() == []
        browser.find_element(By.ID, "btn-b").click()
        wait.until(lambda d: pair_shown() == second)  # the pair reserved for bob before the undo
        assert [(j["pair_id"], j["label"]) for j in studio.store.judgments()] == [(first, "b")]

        # the first tab still shows the pair judged in the second: it says so without a key press
        browser.switch_to.window(first_tab)
        wait.until(lambda d: "no longer yours" in text("message"))
        wait.until(lambda d: pair_shown() == second)  # and shows bob's reserved pair instead
        assert body().get_attribute("data-stale") == "1"

        # reopening the page keeps the name and the reservation
        browser.refresh()
        wait.until(lambda d: pair_shown() == second)
        assert browser.find_element(By.ID, "annotator").get_attribute("value") == "bob"
        assert len(studio.store.judgments()) == 1
    studio.store.close()
