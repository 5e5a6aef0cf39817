"""The statistics commands end to end on the demo corpus, and their JSON shapes."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cli.app import app

runner = CliRunner()

ALPHA_KEYS = {"criterion", "alpha", "ci_low", "ci_high", "units", "pairable_values",
              "bootstrap_used", "note"}  # fmt: skip
SCORE_KEYS = {"criterion", "n", "mean", "sd"}
EDIT_KEYS = {"accepted", "with_draft", "no_draft", "unchanged", "unchanged_share",
             "edit_distance_mean", "draft_length_mean", "final_length_mean",
             "final_length_sd"}  # fmt: skip


def _json(db_url: str, *args: str) -> dict:
    result = runner.invoke(app, ["--db", db_url, *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_help_lists_the_statistics_commands() -> None:
    result = runner.invoke(app, ["--help"])
    for command in ("agreement", "alignment", "edits", "lexicon", "report"):
        assert f"  {command} " in result.output


def test_agreement_json_shape(demo_engine, db_url: str) -> None:  # type: ignore[no-untyped-def]
    data = _json(db_url, "agreement", "--samples", "100", "--seed", "5")
    assert set(data) == {"level", "bootstrap_samples", "seed", "rubric_version", "threshold",
                         "alpha", "scores", "pass", "by_source"}  # fmt: skip
    assert (data["level"], data["bootstrap_samples"], data["seed"]) == ("ordinal", 100, 5)
    assert [row["criterion"] for row in data["alpha"]] == [
        "faithfulness", "relevance", "informativeness",
    ]  # fmt: skip
    for row in data["alpha"]:
        assert set(row) == ALPHA_KEYS
        assert (row["units"], row["pairable_values"], row["note"]) == (6, 12, None)
        assert row["ci_low"] <= row["alpha"] <= row["ci_high"]
    assert set(data["scores"]) == {"overall", "by_dimension", "by_reviewer"}
    assert set(data["scores"]["overall"][0]) == SCORE_KEYS
    assert set(data["scores"]["by_dimension"][0]) == SCORE_KEYS | {"dimension"}
    assert {row["reviewer"] for row in data["scores"]["by_reviewer"]} == {"ana", "ben", "chen"}
    assert sum(row["n"] for row in data["scores"]["by_reviewer"]) == 22 * 3
    assert [row["rule"] for row in data["pass"]] == ["mean", "every_review"]
    assert data["pass"][0]["rationales"] == 16
    assert {row["source"] for row in data["by_source"]} == {"experts"}  # no model reviewed
    again = _json(db_url, "agreement", "--samples", "100", "--seed", "5")
    assert again == data  # seeded: reruns agree


def test_agreement_levels_differ_and_tables_render(demo_engine, db_url: str) -> None:  # type: ignore[no-untyped-def]
    nominal = _json(db_url, "agreement", "--level", "nominal", "--samples", "0")
    ordinal = _json(db_url, "agreement", "--samples", "0")
    assert nominal["alpha"][0]["alpha"] != ordinal["alpha"][0]["alpha"]
    assert nominal["alpha"][0]["ci_low"] is None  # no resamples, no interval
    result = runner.invoke(app, ["--db", db_url, "agreement", "--samples", "20"])
    assert result.exit_code == 0, result.output
    assert "Krippendorff's alpha (ordinal)" in result.output and "informativeness" in result.output


def test_agreement_on_empty_store_says_so(tmp_path: Path) -> None:
    assert runner.invoke(app, ["--db", str(tmp_path / "e.db"), "init"]).exit_code == 0
    result = runner.invoke(app, ["--db", str(tmp_path / "e.db"), "agreement"])
    assert result.exit_code == 0, result.output
    assert "faithfulness: too little overlap" in result.output


def test_bad_level_is_one_line(tmp_path: Path) -> None:
    assert runner.invoke(app, ["--db", str(tmp_path / "e.db"), "init"]).exit_code == 0
    result = runner.invoke(app, ["--db", str(tmp_path / "e.db"), "agreement", "--level", "x"])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: unknown level 'x': use one of nominal, ordinal, interval, ratio"
    )


def test_alignment_json_shape(demo_engine, db_url: str) -> None:  # type: ignore[no-untyped-def]
    data = _json(db_url, "alignment")
    assert data["instrument"] == "wai-sr"
    assert [row["dimension"] for row in data["dimensions"]] == ["goal", "task", "bond", "total"]
    goal = data["dimensions"][0]
    assert set(goal) == {"dimension", "n", "pearson_r", "pearson_p", "spearman_rho",
                         "spearman_p", "mse", "counselor_higher", "client_mean",
                         "counselor_mean"}  # fmt: skip
    assert goal["n"] == 14 and -1 <= goal["pearson_r"] <= 1


def test_edits_json_shape(demo_engine, db_url: str) -> None:  # type: ignore[no-untyped-def]
    data = _json(db_url, "edits")
    assert [row["dimension"] for row in data["by_dimension"]] == ["goal", "task", "bond", "all"]
    assert set(data["by_annotator"][0]) == EDIT_KEYS | {"annotator"}
    assert data["by_dimension"][-1]["no_draft"] == 45
    assert data["by_dimension"][-1]["unchanged_share"] is None


def test_lexicon_json_has_chinese_unescaped(demo_engine, db_url: str) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["--db", db_url, "lexicon", "--top", "15", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["dimension"], data["top"], data["significant_z"]) == (None, 15, 3.0)
    assert len(data["words"]) == 45
    assert set(data["words"][0]) == {"dimension", "rank", "word", "z", "delta", "count",
                                     "other_count", "significant"}  # fmt: skip
    chinese = [row["word"] for row in data["words"] if "\u4e00" <= row["word"][0] <= "\u9fff"]
    assert chinese and chinese[0] in result.stdout  # written as is, not \\u escapes
    one = _json(db_url, "lexicon", "--dimension", "bond", "--top", "2")
    assert [row["dimension"] for row in one["words"]] == ["bond", "bond"]
    bad = runner.invoke(app, ["--db", db_url, "lexicon", "--dimension", "trust"])
    assert bad.exit_code == 1 and "unknown dimension 'trust'" in bad.stderr


def test_report_writes_one_html_file(demo_engine, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "report.html"
    result = runner.invoke(app, ["--db", db_url, "report", "--html", str(target),
                                 "--samples", "50"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"wrote {target}"
    html = target.read_text(encoding="utf-8")
    from tests.services.test_stats_report import _alliance_parts

    charts, _ = _alliance_parts(demo_engine)  # the counselor and watch charts
    assert html.count("<svg") == 8 + charts and "22 reviews" in html
