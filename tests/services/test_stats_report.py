"""The HTML report: self-contained, built from the same figures, and opens in Chromium."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from annotate.analysis.alignment import alignment
from annotate.analysis.report import build_report, html_table, write_report
from annotate.core.demo import DEMO_FILES

pytestmark = pytest.mark.both_backends

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def report_html(demo_engine) -> str:  # type: ignore[no-untyped-def]
    return build_report(demo_engine, samples=50)


def _svgs(html: str) -> list[str]:
    return re.findall(r"<svg\b.*?</svg>", html, flags=re.S)


def test_report_is_self_contained(report_html: str) -> None:
    assert report_html.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in report_html
    for forbidden in ("<script", "<link", "<img", "<iframe", "@import", "url(", "src="):
        assert forbidden not in report_html.lower()
    addresses = set(re.findall(r"https?://[^\s\"'<>]+", report_html))
    assert addresses <= {"http://www.w3.org/2000/svg"}


def _alliance_parts(engine) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """The charts and tables the alliance sections add: a gap chart and table per dimension
    with counselors, a trajectory per flagged (client, dimension); ICC, thresholds, flags
    and clients tables (tests/cli/test_alliance.py checks their figures)."""
    from annotate.research.counselors import counselor_effects
    from annotate.research.watch import not_on_track

    gaps = len({c.dimension for c in counselor_effects(engine, samples=0).counselors})
    watch = not_on_track(engine)
    trajectories = len({(f.client_id, f.dimension) for f in watch.flags})
    return gaps + trajectories, 2 + gaps + bool(watch.flags) + bool(watch.clients)


def test_report_has_every_chart_and_table(report_html: str, demo_engine) -> None:  # type: ignore[no-untyped-def]
    kinds = Counter(re.search(r'data-kind="(\w+)"', svg).group(1) for svg in _svgs(report_html))
    charts, tables = _alliance_parts(demo_engine)
    assert kinds == {"steps": 1, "bar": 2, "scatter": 3, "interval": 2 + charts}
    for heading in ("Progress", "Client ratings", "Review quality", "Counselor vs client",
                    "Ruptures and other binary items", "Counselor vs client by condition",
                    "Counselor vs client over sessions", "From draft to final text",
                    "Words that mark each dimension"):  # fmt: skip
        assert f"<h2>{heading}</h2>" in report_html
    assert report_html.count("<table>") == 15 + tables
    assert "Krippendorff&#x27;s alpha (ordinal)" in report_html
    # the scatter plots show exactly the sessions the alignment table counts
    table = alignment(demo_engine).set_index("dimension")
    for svg in _svgs(report_html):
        title = re.search(r"<title>(\w+) \(n=(\d+)\)</title>", svg)
        if title:
            assert svg.count('class="point"') == int(title.group(2))
            assert int(title.group(2)) == table.loc[title.group(1).lower(), "n"]


def test_client_rating_bars_count_the_files(report_html: str) -> None:
    path = next(p for p in DEMO_FILES if p.name == "sessions.jsonl")
    sessions = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    counts = Counter(
        (item.split("_")[0], value)
        for session in sessions
        for item, value in session["client_ratings"].items()
        if not item.startswith("rupture")  # the chart shows the WAI-SR dimensions
    )
    chart = next(svg for svg in _svgs(report_html) if "Client ratings" in svg)
    for (dimension, value), count in counts.items():
        assert f"<title>{dimension} {value}: {count}</title>" in chart


def test_chinese_text_is_kept(report_html: str) -> None:
    assert re.search(r"<td class=\"text\">[\u4e00-\u9fff]+</td>", report_html)


def test_tables_escape_text() -> None:
    html = html_table(pd.DataFrame({"name": ["<script>x</script>"], "value": [0.5]}))
    assert "<script>" not in html and "&lt;script&gt;" in html and "0.500" in html
    assert "no data yet" in html_table(pd.DataFrame({"a": []}), "Empty")


def test_empty_store_still_gives_a_report(engine) -> None:  # type: ignore[no-untyped-def]
    html = build_report(engine, samples=10)
    assert "too little overlap" in html and len(_svgs(html)) == 6
    assert "No session carries a condition." in html


def _png_pixels(path: Path) -> tuple[int, int, bytes]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    chunks, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        if kind == b"IDAT":
            chunks.append(data[offset + 8 : offset + 8 + length])
        offset += 12 + length
    return width, height, zlib.decompress(b"".join(chunks))


def test_report_opens_in_headless_chromium(demo_engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (make system-deps installs it)")
    report = write_report(demo_engine, tmp_path / "report.html", samples=50)
    shot = tmp_path / "shot.png"
    common = [chromium, *CHROMIUM_FLAGS]
    run = subprocess.run(
        [
            *common,
            f"--user-data-dir={tmp_path / 'profile-1'}",
            f"--screenshot={shot}",
            "--window-size=1200,2400",
            report.as_uri(),
        ],  # fmt: skip
        capture_output=True,
        timeout=120,
    )
    assert shot.is_file(), run.stderr.decode(errors="replace")[-2000:]
    width, height, pixels = _png_pixels(shot)
    assert (width, height) == (1200, 2400)
    assert len(set(pixels)) > 50  # not a blank page: text, bars and lines were drawn
    dom = subprocess.run(
        [*common, f"--user-data-dir={tmp_path / 'profile-2'}", "--dump-dom", report.as_uri()],
        capture_output=True,
        timeout=120,
        text=True,
    ).stdout
    charts, tables = _alliance_parts(demo_engine)
    assert dom.count("<svg") == 8 + charts and dom.count("<table>") == 15 + tables
    assert "Ruptures and other binary items" in dom and dom.count('class="estimate"') > 0
    assert 'class="point"' in dom and "Annotation report" in dom


def test_binary_and_group_sections_show_the_figures(report_html: str, demo_engine) -> None:  # type: ignore[no-untyped-def]
    from annotate.analysis.binary import binary_alignment
    from annotate.analysis.by_group import alignment_by

    row = binary_alignment(demo_engine).iloc[0]
    section = report_html.split("<h2>Ruptures and other binary items</h2>")[1].split("<h2>")[0]
    cells = re.findall(r'<td class="num">(\d+)</td>', section)
    # the 2x2 table, row by row: client yes (counselor yes, no, total), client no, total
    a, b = int(row["client_yes_counselor_yes"]), int(row["client_yes_counselor_no"])
    c, d = int(row["client_no_counselor_yes"]), int(row["client_no_counselor_no"])
    assert [int(x) for x in cells[:9]] == [a, b, a + b, c, d, c + d, a + c, b + d, 14]
    assert f"{row['missed_by_counselor']:.3f}" in section and f"{row['kappa']:.3f}" in section
    grouped = alignment_by(demo_engine, "condition", samples=50)
    chart = next(svg for svg in _svgs(report_html) if "Alignment gap by condition" in svg)
    goal = grouped.dimensions[grouped.dimensions["dimension"] == "goal"]
    for condition, gap in zip(goal["group"], goal["gap"], strict=True):
        assert f"<title>goal, {condition}: {gap:.2f} [" in chart
    # one point per group and WAI-SR dimension, an interval bar for each with an interval
    assert chart.count('class="estimate"') == 5 * 3
    assert chart.count('class="ci"') == 5 * 3
    trajectory = next(svg for svg in _svgs(report_html) if "by session number" in svg)
    assert trajectory.count('class="line"') == 3  # goal, task and bond joined over sessions
