"""``annotate serve`` in Chromium: an expert logs in, edits, saves and logs out.

What a person does: types the name and secret into the login form and presses Enter,
waits for the terminal, opens the first item of the queue with Enter, selects the
editor's text (F7), types a sentence and saves (Ctrl+S). The tests then read the store:
the saved version's text and its author.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.browser.conftest import Browser
from tests.test_serve_team import Served, _authors, _not_theirs, demo_team, rows

pytestmark = pytest.mark.slow

QUEUE = " rationales · "  # the queue's summary line
EDITOR = "Regenerate"  # the editor's footer


@pytest.fixture
def team(tmp_path: Path) -> Iterator[tuple[Served, str, dict[str, str]]]:
    """A demo store served to ana and ben with logins: (server, db, secrets)."""
    db, logins, secrets = demo_team(tmp_path)
    served = Served.start("--db", db, "serve", "--port", "0", "--logins", str(logins))
    try:
        yield served, db, secrets
    finally:
        output = served.stop()
        assert all(secret not in output for secret in secrets.values())


def _stored(db: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every saved version (id, text, its author, the rationale's author); unsaved texts."""
    versions = rows(db, "SELECT v.id, v.text, v.author_id, r.author_id FROM rationale_versions v "
                        "JOIN rationales r ON r.id = v.rationale_id ORDER BY v.id")  # fmt: skip
    return versions, rows(db, "SELECT text FROM autosaves")


def _log_in(browser: Browser, base: str, name: str, secret: str) -> str:
    """Log in through the form as a person does; NAME's queue once it is drawn."""
    browser.driver.get(f"{base}/")  # sent on to the login form
    assert browser.driver.current_url == f"{base}/login", browser.driver.current_url
    browser.driver.find_element(By.NAME, "name").send_keys(name)
    browser.driver.find_element(By.NAME, "secret").send_keys(secret, Keys.ENTER)
    browser.wait(lambda: browser.driver.current_url == f"{base}/", "the terminal page")
    return _queue_of(browser, name)


def _queue_of(browser: Browser, name: str) -> str:
    """The queue once drawn, checked to be NAME's."""
    screen = browser.wait_screen(QUEUE)
    assert f"annotate — {name}" in screen or f"annotate - {name}" in screen, screen[-800:]
    browser.settle()
    return screen


def _save_first_item(browser: Browser, db: str, sentence: str, name: str) -> None:
    """Open the queue's first item, replace its text by SENTENCE and save it: stored as
    NAME's, on a rationale of NAME's."""
    browser.forget()
    browser.type(Keys.ENTER)
    browser.wait_screen(EDITOR)
    browser.settle()
    browser.type(Keys.F7, sentence)
    browser.settle()  # every key answered (the sentence wraps, so it is not looked for)
    browser.chord(Keys.CONTROL, "s")
    _, text, author, owner = browser.wait(
        lambda: next((row for row in _stored(db)[0] if row[1] == sentence), None),
        f"a version holding {sentence!r}", 30.0,
    )  # fmt: skip
    assert (text, author, owner) == (sentence, name, name)


def test_an_expert_logs_in_edits_and_saves_in_chromium(team, browser: Browser) -> None:  # type: ignore[no-untyped-def]
    served, db, secrets = team
    _log_in(browser, served.base, "ana", secrets["ana"])
    sentence = "Rated 3: the client agrees on the goal but doubts the steps (turn 7)."
    _save_first_item(browser, db, sentence, "ana")


def test_a_second_expert_gets_only_their_own_queue(team, browser: Browser) -> None:  # type: ignore[no-untyped-def]
    served, db, secrets = team
    _log_in(browser, served.base, "ana", secrets["ana"])
    # The page's own logout control: back to the login form, the session gone.
    browser.driver.find_element(By.CSS_SELECTOR, ".annotate-logout button").click()
    browser.wait(lambda: browser.driver.current_url == f"{served.base}/login", "the login form")
    browser.forget()
    screen = _log_in(browser, served.base, "ben", secrets["ben"])
    own = _authors(db)
    assert all(session in screen for session in own["ben"]), screen[-2000:]
    assert not any(session in screen for session in _not_theirs(db, "ben", "ana")), screen[-2000:]
    sentence = "Ben's reading: the bond holds although the client disagrees on the task."
    _save_first_item(browser, db, sentence, "ben")


def test_logging_out_closes_the_open_terminal(team, browser: Browser) -> None:  # type: ignore[no-untyped-def]
    served, db, secrets = team
    _log_in(browser, served.base, "ana", secrets["ana"])
    saved = "Saved before logging out: the client names the goal in turn 3."
    _save_first_item(browser, db, saved, "ana")
    browser.settle()
    terminal = browser.driver.current_window_handle
    # Log out in another tab; the terminal stays open in the first one.
    browser.driver.switch_to.new_window("tab")
    browser.driver.get(f"{served.base}/logout")
    browser.driver.find_element(By.CSS_SELECTOR, ".annotate-logout button").click()
    browser.wait(lambda: browser.driver.current_url == f"{served.base}/login", "the login form")
    browser.driver.switch_to.window(terminal)
    closed = browser.wait(
        lambda: browser.driver.find_element(By.CSS_SELECTOR, ".closed-dialog").is_displayed(),
        "the page to say the session ended", 10.0,
    )  # fmt: skip
    assert closed
    before = _stored(db)
    # Keys typed into the already-open terminal reach nothing and store nothing.
    browser.forget()
    typed = "Typed after logging out."
    browser.type(Keys.F7, typed)
    browser.chord(Keys.CONTROL, "s")
    browser.settle(quiet=2.0)
    assert typed not in browser.screen() and len(browser.frames) == 0, browser.screen()[-500:]
    assert _stored(db) == before
    assert not any(typed in row[1] for row in before[0]) and (typed,) not in before[1]
    # Reloading the page asks for a login again.
    browser.driver.refresh()
    assert browser.driver.current_url == f"{served.base}/login"


def test_the_single_expert_key_mode_in_chromium(tmp_path: Path, browser: Browser) -> None:
    db, _, _ = demo_team(tmp_path)
    served = Served.start("--db", db, "serve", "--port", "0", "--annotator", "ana")
    try:
        assert "?key=" in served.url
        browser.driver.get(served.base + "/")  # without the key: refused
        assert "needs the key" in browser.driver.find_element(By.TAG_NAME, "body").text
        browser.driver.get(served.url)
        _queue_of(browser, "ana")
        sentence = "Key mode: the client's own words in turn 5 show the goal is shared."
        _save_first_item(browser, db, sentence, "ana")
    finally:
        served.stop()


def test_f5_toggles_the_alliance_strip_and_does_not_reload_the_page(team, browser: Browser) -> None:  # type: ignore[no-untyped-def]
    """F5 is a browser's reload key: in the served terminal it must reach the app (the
    strip hides and comes back) and leave the page, its connection and the work alone."""
    from typer.testing import CliRunner

    from cli.app import app

    served, db, secrets = team
    traced = CliRunner().invoke(app, ["--db", db, "trace", "--provider", "offline"])
    assert traced.exit_code == 0, traced.output
    _log_in(browser, served.base, "ana", secrets["ana"])
    browser.forget()
    browser.type(Keys.ENTER)
    browser.wait_screen("alliance: lexical")  # the strip's label in the transcript's border
    browser.settle()
    browser.driver.execute_script("window.annotateMarker = 'before F5';")
    browser.type(Keys.F5)  # hidden
    browser.settle()
    browser.forget()
    browser.type(Keys.F5)  # shown again: its label is drawn anew
    browser.wait_screen("alliance: lexical", 20.0)
    assert browser.driver.execute_script("return window.annotateMarker;") == "before F5"
    assert browser.driver.current_url == f"{served.base}/"
    browser.settle()
    sentence = "Saved after F5 twice: the client keeps to the goal (turn 2)."
    browser.type(Keys.F7, sentence)
    browser.settle()
    browser.chord(Keys.CONTROL, "s")
    browser.wait(lambda: any(row[1] == sentence for row in _stored(db)[0]),
                 "the version saved after F5", 30.0)  # fmt: skip


def test_f6_cycles_sampled_drafts_and_saving_records_the_one_shown(team, browser: Browser) -> None:  # type: ignore[no-untyped-def]
    """F6 (a browser's "focus the address bar" key) must reach the served app: with three
    sampled drafts of an item not yet started, the editor opens on the newest (draft 3 of
    3); F6 twice wraps to the first and then the second, and saving stores that sample's
    text with its id as the draft the rationale began from, the page never reloaded."""
    from annotate.work.queue import authoring_queue
    from store.db import make_engine, session_scope
    from store.models import Rationale
    from tests.tui.test_alternatives import TEXTS, add_samples
    from tui.screens.queue import sent_back_first

    served, db, secrets = team
    engine = make_engine(db)
    try:
        with session_scope(engine) as session:  # a new item for ana, first of her ranked ones
            session.add(Rationale(session_id="s02", item_id="goal_1", author_id="ana",
                                  queue_rank=1))  # fmt: skip
        queue = sent_back_first(authoring_queue(engine, "ana"))
        row = next(n for n, entry in enumerate(queue) if entry.session_id == "s02")
        ids = add_samples(engine, queue[row], TEXTS)
    finally:
        engine.dispose()
    _log_in(browser, served.base, "ana", secrets["ana"])
    browser.forget()
    browser.type(*[Keys.DOWN] * row, Keys.ENTER)  # the queue lists the items sent back first
    browser.wait_screen("draft 3 of 3 · uncertainty 0.37")
    browser.settle()
    browser.driver.execute_script("window.annotateMarker = 'before F6';")
    browser.forget()
    browser.type(Keys.F6)  # wraps round to the first sample
    browser.wait_screen("draft 1 of 3 · ", 20.0)
    browser.settle()
    browser.forget()
    browser.type(Keys.F6)
    browser.wait_screen("draft 2 of 3 · ", 20.0)
    browser.settle()
    assert browser.driver.execute_script("return window.annotateMarker;") == "before F6"
    assert browser.driver.current_url == f"{served.base}/"
    browser.chord(Keys.CONTROL, "s")
    saved = browser.wait(
        lambda: rows(db, "SELECT v.text, v.author_id, r.draft_id FROM rationale_versions v JOIN "
                         "rationales r ON r.id = v.rationale_id AND v.version = r.current_version "
                         "WHERE r.session_id = 's02' AND r.item_id = 'goal_1'"),
        "the version saved after F6 twice", 30.0,
    )  # fmt: skip
    assert saved == [(TEXTS[1], "ana", ids[1])]
