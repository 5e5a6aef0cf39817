"""Instrument and marker-scheme files are hostile files too (issue 23): bounded, one line
with the file and line, nothing written; a version names one content."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from annotate.core.errors import ConfigError
from annotate.core.guidelines import DEFAULT_INSTRUMENT, DEFAULT_MARKERS, load_instrument
from annotate.core.instruments import install_instrument
from cli.app import app
from store.models import Instrument, Item

runner = CliRunner()
WAI = DEFAULT_INSTRUMENT.read_text(encoding="utf-8")


def _line(text: str, start: str, nth: int = 1) -> int:
    """The number of the NTH line of TEXT starting with START (the file's comments may change)."""
    lines = [n for n, line in enumerate(text.splitlines(), 1) if line.startswith(start)]
    return lines[nth - 1]


SCALE_MAX = _line(WAI, "scale_max")
SCHEME = DEFAULT_MARKERS.read_text(encoding="utf-8")


def _file(tmp_path: Path, text: str, name: str = "instrument.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _one_line(result, path: Path) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code != 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    assert lines[0].startswith(f"error: {path}"), lines[0]
    assert len(lines[0]) < 400
    return lines[0]


@pytest.fixture
def store(tmp_path: Path) -> Path:
    db = tmp_path / "work.db"
    assert runner.invoke(app, ["--db", str(db), "init"]).exit_code == 0
    return db


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # The out-of-memory kill: a scale of 10^20 points was expanded into a set.
        (
            ("scale_max = 5", "scale_max = 100000000000000000000"),
            rf":{SCALE_MAX}: scale_max: .*1000",
        ),
        (("scale_max = 5", "scale_max = 3000000"), rf":{SCALE_MAX}: scale_max"),
        (("scale_min = 1", "scale_min = -999"), r"a scale has 2 to 100 points"),
        (("scale_max = 5", "scale_max = 5.0"), rf":{SCALE_MAX}: scale_max: .*integer"),
        (
            ('wording = "paraphrase"', 'wording = "paraphrase"\nrationales = "no"'),
            rf":{_line(WAI, 'wording') + 1}: rationales: .*boolean",
        ),  # fmt: skip
        (('id = "goal_2"', 'id = "goal 2"'), rf":{_line(WAI, 'id = ', 3)}: items.1.id"),
        (('name = "Goal"', 'name = "' + "G" * 5000 + '"'), r"dimensions.goal.name: .*200"),
        (('name = "Goal"', 'name = "Go\\u0000al"'), r"NUL"),
        (("[anchors]", "deep = " + "[" * 5000 + "]" * 5000 + "\n[anchors]"), r"nested more"),
    ],
)
def test_a_hostile_instrument_is_one_line_and_nothing_is_written(
    tmp_path: Path, store: Path, change: tuple[str, str], expected: str
) -> None:
    path = _file(tmp_path, WAI.replace(*change, 1))
    before = store.read_bytes()
    result = runner.invoke(app, ["--db", str(store), "instrument", "load", str(path)])
    assert re.search(expected, _one_line(result, path)), result.stderr
    assert store.read_bytes() == before


def test_invalid_utf8_a_fifo_and_a_huge_file_are_refused_without_reading_them_whole(
    tmp_path: Path, store: Path
) -> None:
    import os

    bad = tmp_path / "bad.toml"
    bad.write_bytes(WAI.encode().replace(b"Seldom", b"Seld\xffom"))
    result = runner.invoke(app, ["--db", str(store), "instrument", "load", str(bad)])
    assert f":{_line(WAI, '1 = ')}: not valid UTF-8" in _one_line(result, bad)
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)  # opening it for reading would block forever without O_NONBLOCK
    result = runner.invoke(app, ["--db", str(store), "instrument", "load", str(fifo)])
    assert "not a regular file" in _one_line(result, fifo)
    huge = tmp_path / "huge.toml"
    with huge.open("wb") as handle:
        handle.truncate(3 << 30)  # 3 GB of holes: only the first MiB is read
    result = runner.invoke(app, ["--db", str(store), "instrument", "load", str(huge)])
    assert "larger than 1 MiB" in _one_line(result, huge)
    loop = tmp_path / "loop.toml"
    loop.symlink_to(loop)
    result = runner.invoke(app, ["--db", str(store), "instrument", "load", str(loop)])
    assert "cannot read" in _one_line(result, loop)


def _items(db: Path) -> dict[str, str]:
    from annotate.core.database import open_store

    with Session(open_store(str(db))) as session:
        return {item.id: item.text for item in session.exec(select(Item)).all()}


def test_a_changed_instrument_under_the_same_version_is_refused(
    tmp_path: Path, store: Path
) -> None:
    """Renaming an item used to add a 13th item under the stored version."""
    renamed = _file(tmp_path, WAI.replace('id = "goal_2"', 'id = "goal_2b"', 1))
    before = store.read_bytes()
    result = runner.invoke(app, ["--db", str(store), "instrument", "load", str(renamed)])
    line = _one_line(result, renamed).removeprefix(f"error: {renamed}: ")
    assert "wai-sr 1.1.0 is stored with other content" in line and "bump the version" in line
    assert "new item(s) goal_2b" in line and "no item(s) goal_2" in line
    assert store.read_bytes() == before
    reworded = _file(tmp_path, WAI.replace("Seldom", "Rarely"), "reworded.toml")
    result = runner.invoke(app, ["--db", str(store), "instrument", "load", str(reworded)])
    assert "anchors" in _one_line(result, reworded)
    # The same file again changes nothing.
    result = runner.invoke(app, ["--db", str(store), "instrument", "load", str(DEFAULT_INSTRUMENT)])
    assert result.exit_code == 0 and "unchanged" in result.stdout
    assert store.read_bytes() == before


def test_a_new_version_may_reword_and_drop_unused_items_but_not_rated_ones(
    tmp_path: Path, store: Path
) -> None:
    official = WAI.replace('version = "1.1.0"', 'version = "1.1.0+official"').replace(
        "We agree on what is important for me to work on.", "Official wording one."
    )
    path = _file(tmp_path, official, "official.toml")
    result = runner.invoke(app, ["--db", str(store), "instrument", "load", str(path)])
    assert result.exit_code == 0, result.output
    assert _items(store)["goal_1"] == "Official wording one."
    # init keeps the team's wording (it used to put the shipped paraphrase back).
    assert runner.invoke(app, ["--db", str(store), "init"]).exit_code == 0
    assert _items(store)["goal_1"] == "Official wording one."
    # A new version that renames an item with no ratings: it is renamed, not added.
    renamed = _file(tmp_path, official.replace("1.1.0+official", "1.2.0").replace(
        'id = "goal_2"', 'id = "goal_2b"', 1), "renamed.toml")  # fmt: skip
    result = runner.invoke(app, ["--db", str(store), "instrument", "load", str(renamed)])
    assert result.exit_code == 0, result.output
    wai = {i for i in _items(store) if not i.startswith("rupture")}
    assert len(wai) == 12 and "goal_2b" in wai and "goal_2" not in wai


def test_an_item_with_ratings_cannot_be_left_out(demo_engine) -> None:  # type: ignore[no-untyped-def]
    spec = load_instrument(DEFAULT_INSTRUMENT)
    smaller = spec.model_copy(update={"version": "2.0.0", "items": spec.items[1:]})
    with Session(demo_engine) as session:
        with pytest.raises(ConfigError, match="leaves out item goal_1, which has .* ratings"):
            install_instrument(session, smaller)
        session.rollback()
        assert session.get(Instrument, "wai-sr").version == "1.1.0"  # type: ignore[union-attr]


def test_a_changed_marker_scheme_under_the_same_version_is_refused(
    tmp_path: Path, store: Path
) -> None:
    changed = SCHEME.replace('name = "', 'name = "Edited ', 1)
    edited = _file(tmp_path, changed, "scheme.toml")
    before = store.read_bytes()
    result = runner.invoke(app, ["--db", str(store), "codes", "load", str(edited)])
    line = _one_line(result, edited)
    assert "is stored with other content (name differ)" in line and "bump the version" in line
    assert store.read_bytes() == before
    bumped = _file(tmp_path, re.sub(r'version = "[^"]+"', 'version = "9.9.9"', changed, count=1),
                   "bumped.toml")  # fmt: skip
    result = runner.invoke(app, ["--db", str(store), "codes", "load", str(bumped)])
    assert result.exit_code == 0 and "loaded" in result.stdout, result.output
    result = runner.invoke(app, ["--db", str(store), "codes", "load", str(bumped)])
    assert result.exit_code == 0 and "unchanged" in result.stdout


def test_a_hostile_marker_scheme_is_one_line(tmp_path: Path, store: Path) -> None:
    for text in (
        SCHEME.replace("examples = [", "examples = " + "[" * 2000, 1),
        "cues = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n" + SCHEME,
    ):
        path = _file(tmp_path, text, "deep.toml")
        before = store.read_bytes()
        result = runner.invoke(app, ["--db", str(store), "codes", "load", str(path)])
        _one_line(result, path)
        assert store.read_bytes() == before
