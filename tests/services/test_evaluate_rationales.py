"""Rationale metrics of ``annotate evaluate``: BLEU and ROUGE against reference implementations.

BLEU is compared with sacrebleu's public ``corpus_bleu`` (a group mixing English and
Chinese adds up the n-gram counts sacrebleu reports for each language and uses
``BLEU.compute_bleu``), ROUGE with rouge-score's own default ``RougeScorer`` on English
(contractions, ``goal_1``, numbers, punctuation, mixed case) and with a
longest-common-subsequence written here on Chinese characters and on German, Russian
and Hindi words.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter

import pytest
import sacrebleu
from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU
from sqlalchemy import text

from annotate.analysis.evaluate import evaluate
from annotate.analysis.rationale_metrics import (
    ROUGE_TOKENIZERS,
    USE_STEMMER,
    Pair,
    RougeTokens,
    group_metrics,
    rouge_tokenizer,
    score_pairs,
)
from annotate.export.service import ExportOptions, export_dataset
from tests.factories import write_jsonl

pytestmark = pytest.mark.both_backends
DIMENSIONS = ("goal", "task", "bond")


def _references(engine) -> dict[tuple[str, str], tuple[str, str]]:  # type: ignore[no-untyped-def]
    """{(session, item): (accepted text, language)}, read with plain SQL."""
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT r.session_id, r.item_id, v.text, s.language FROM rationales r "
                "JOIN rationale_versions v ON v.rationale_id = r.id "
                "AND v.version = r.current_version "
                "JOIN sessions s ON s.id = r.session_id WHERE r.status = 'accepted'"
            )
        ).all()
    return {(s, i): (t, lang) for s, i, t, lang in rows}


def _ratings(engine) -> dict[tuple[str, str], int]:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT session_id, item_id, value FROM ratings WHERE rater_role = 'client'")
        ).all()
    return {(s, i): v for s, i, v in rows}


def _model_text(reference: str, n: int) -> str:
    """A plausible model rationale: the reference with some words or characters changed."""
    if re.search(r"[\u4e00-\u9fff]", reference):
        chars = list(reference)
        for k in range(0, len(chars), 5 + n % 3):
            chars[k] = "的"
        return "".join(chars[: max(4, len(chars) - n % 4)])
    words = reference.split()
    kept = [w for k, w in enumerate(words) if (k + n) % 4 != 0]
    return " ".join([*kept, "overall"])


def _prediction_file(engine, tmp_path, *, identical: bool = False, extra: int = 3):  # type: ignore[no-untyped-def]
    references = _references(engine)
    ratings = _ratings(engine)
    records, texts = [], {}
    for n, (key, (reference, _)) in enumerate(sorted(references.items())):
        if key not in ratings:
            continue
        texts[key] = reference if identical else _model_text(reference, n)
        records.append({"session_id": key[0], "item_id": key[1], "rating": ratings[key],
                        "rationale": texts[key]})  # fmt: skip
    # Items whose expert rationale is not accepted: counted, not scored.
    others = sorted(k for k in ratings if k not in references and k[1].split("_")[0] in DIMENSIONS)
    for key in others[:extra]:
        records.append({"session_id": key[0], "item_id": key[1], "rating": ratings[key],
                        "rationale": "The client said little."})  # fmt: skip
    return write_jsonl(tmp_path / "p.jsonl", records), texts, references, others[:extra]


def _expected_bleu(pairs: list[tuple[str, str, str]]) -> float:
    """Corpus BLEU of (hypothesis, reference, language) pairs, each language tokenised its way."""
    sys_len = ref_len = 0
    correct, total = [0] * 4, [0] * 4
    for language in {lang for _, _, lang in pairs}:
        subset = [(h, r) for h, r, lang in pairs if lang == language]
        tokenize = "zh" if language.startswith("zh") else "13a"
        score = sacrebleu.corpus_bleu([h for h, _ in subset], [[r for _, r in subset]],
                                      tokenize=tokenize)  # fmt: skip
        sys_len, ref_len = sys_len + score.sys_len, ref_len + score.ref_len
        correct = [a + b for a, b in zip(correct, score.counts, strict=True)]
        total = [a + b for a, b in zip(total, score.totals, strict=True)]
    return float(BLEU.compute_bleu(correct, total, sys_len, ref_len, smooth_method="exp").score)


def _lcs(a: list[str], b: list[str]) -> int:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a, 1):
        for j, y in enumerate(b, 1):
            table[i][j] = (
                table[i - 1][j - 1] + 1 if x == y else max(table[i - 1][j], table[i][j - 1])
            )
    return table[-1][-1]


def _f1(overlap: int, hyp: int, ref: int) -> float:
    if not overlap:
        return 0.0
    precision, recall = overlap / hyp, overlap / ref
    return 2 * precision * recall / (precision + recall)


def _expected_rouge(hypothesis: str, reference: str, language: str) -> tuple[float, float]:
    if not language.startswith("zh"):  # ASCII English: rouge-score exactly as it ships
        scores = rouge_scorer.RougeScorer(["rouge1", "rougeL"]).score(reference, hypothesis)
        return scores["rouge1"].fmeasure, scores["rougeL"].fmeasure
    tokens = re.compile(r"[\u4e00-\u9fff]|[0-9a-z]+")
    hyp, ref = tokens.findall(hypothesis.lower()), tokens.findall(reference.lower())
    unigrams = sum((Counter(hyp) & Counter(ref)).values())
    return _f1(unigrams, len(hyp), len(ref)), _f1(_lcs(hyp, ref), len(hyp), len(ref))


def _expected_group(texts, references, keys) -> dict[str, float]:  # type: ignore[no-untyped-def]
    pairs = [(texts[k], references[k][0], references[k][1] or "en") for k in keys]
    rouge = [_expected_rouge(h, r, lang) for h, r, lang in pairs]
    return {
        "bleu": _expected_bleu(pairs),
        "rouge1": statistics.fmean(r for r, _ in rouge),
        "rougeL": statistics.fmean(r for _, r in rouge),
    }


def test_bleu_and_rouge_equal_the_reference_implementations(demo_engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path, texts, references, unmatched = _prediction_file(demo_engine, tmp_path)
    languages = {references[k][1] for k in texts}
    assert {"en", "zh"} <= languages  # both kinds of text are in the comparison
    section = evaluate(demo_engine, path)["rationales"]
    assert section["scored"] == len(texts) and section["without_reference"] == len(unmatched)
    assert sum(section["without_reference_by_dimension"].values()) == len(unmatched)
    for group in (*DIMENSIONS, "all"):
        keys = [k for k in texts if group == "all" or k[1].startswith(group)]
        expected = _expected_group(texts, references, keys)
        got = section["overall"][group]
        assert got["n"] == len(keys)
        for metric, value in expected.items():
            assert got[metric] == pytest.approx(value, abs=1e-6), (group, metric)


def test_identical_rationales_score_bleu_100_and_rouge_1(demo_engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path, _, _, _ = _prediction_file(demo_engine, tmp_path, identical=True, extra=0)
    overall = evaluate(demo_engine, path)["rationales"]["overall"]["all"]
    assert overall["bleu"] == pytest.approx(100.0)
    assert overall["rouge1"] == pytest.approx(1.0) and overall["rougeL"] == pytest.approx(1.0)


def test_per_fold_rationale_metrics_and_their_mean_and_sd(demo_engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    export_dataset(
        demo_engine, ExportOptions("openai", tmp_path / "x", folds=2, include_unreviewed=True)
    )
    manifest = json.loads((tmp_path / "x" / "manifest.json").read_text())
    path, texts, references, _ = _prediction_file(demo_engine, tmp_path)
    section = evaluate(demo_engine, path, folds_dir=tmp_path / "x")["rationales"]
    per_fold: dict[str, list[float]] = {"bleu": [], "rouge1": [], "rougeL": []}
    for entry in manifest["fold_table"]:
        members = set(entry["val"]["session_ids"])
        keys = [k for k in texts if k[0] in members]
        got = next(f for f in section["folds"] if f["fold"] == entry["fold"])["metrics"]["all"]
        if not keys:
            assert got["n"] == 0
            continue
        expected = _expected_group(texts, references, keys)
        for metric, value in expected.items():
            assert got[metric] == pytest.approx(value, abs=1e-6)
            per_fold[metric].append(value)
    for metric, values in per_fold.items():
        summary = section["fold_summary"]["all"][metric]
        assert summary["mean"] == pytest.approx(statistics.fmean(values), abs=1e-6)
        if len(values) > 1:
            assert summary["sd"] == pytest.approx(statistics.stdev(values), abs=1e-6)


def test_rouge_tokens_say_what_they_count() -> None:
    assert RougeTokens(unspaced=False).tokenize("Café, turn 7!") == ["café", "turn", "7"]
    # punctuation and _ separate, as in rouge-score; combining marks stay in their word
    assert RougeTokens(unspaced=False).tokenize("Don't: goal_1, Mu\u0308ller") == [
        "don", "t", "goal", "1", "müller",
    ]  # fmt: skip
    assert RougeTokens(unspaced=False).tokenize("नमस्ते, दुनिया") == ["नमस्ते", "दुनिया"]
    assert RougeTokens(unspaced=True).tokenize("来访者在第9轮说OK。") == [
        "来", "访", "者", "在", "第", "9", "轮", "说", "ok",
    ]  # fmt: skip


def test_the_command_prints_the_rationale_table(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from cli.app import app
    from store.db import make_engine

    db = tmp_path / "demo.db"
    runner = CliRunner()
    assert runner.invoke(app, ["--db", str(db), "demo", "--no-ui"]).exit_code == 0
    engine = make_engine(str(db))
    try:
        path, texts, _, unmatched = _prediction_file(engine, tmp_path)
    finally:
        engine.dispose()
    result = runner.invoke(app, ["--db", str(db), "evaluate", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("BLEU ") for line in lines)
    assert any(line.startswith("ROUGE-L F1") for line in lines)
    assert f"{len(texts)} rationales scored; {len(unmatched)} without" in result.output
    as_json = json.loads(
        runner.invoke(app, ["--db", str(db), "evaluate", str(path), "--json"]).output
    )
    assert as_json["rationales"]["scored"] == len(texts)


def test_without_a_bertscore_model_the_output_says_why(demo_engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path, _, _, _ = _prediction_file(demo_engine, tmp_path)
    section = evaluate(demo_engine, path)["rationales"]
    assert section["bertscore"] is None
    assert "--bertscore-model DIR" in section["bertscore_note"]
    assert all("bertscore_f1" not in figures for figures in section["overall"].values())


# English texts rouge-score's default tokenizer and a plain \\w+ split disagree on.
ENGLISH = [
    ("The client don't agree with goal_1 yet; she rated it 4 of 7.",
     "The client doesn't agree with Goal 1 yet, rating it 4/7."),
    ("In turn 12 the client says \"I DON'T think this is working\" and withdraws.",
     "At turn 12 the client said she didn't think it was working, then withdrew."),
    ("Bond is strong: the client thanks the counselor (T3, T9) and laughs.",
     "Strong bond; client thanks counsellor in T3 and T9, laughing together."),
    ("Task_agreement is low -- the homework (3 exercises) wasn't done.",
     "Task agreement low: homework of 3 exercises was not done."),
    ("They're working on goal_2: sleep 7-8 hours/night, 2.5 km walks.",
     "The pair works on Goal 2 (sleeping 7 to 8 hours per night, walks of 2.5 km)."),
    ("Café talk... the client's naïve hopes", "cafe talk: the client's naive hopes"),
]  # fmt: skip


def _rouge_score_default(prediction: str, reference: str) -> tuple[float, float]:
    scores = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=USE_STEMMER).score(
        reference, prediction
    )
    return scores["rouge1"].fmeasure, scores["rougeL"].fmeasure


@pytest.mark.parametrize("language", ["en", "en-GB", "EN_us"])
def test_english_rouge_equals_rouge_scores_default_scorer(language: str) -> None:
    pairs = [Pair("s", "goal_1", "goal", language, p, r) for p, r in ENGLISH]
    scored = score_pairs(pairs)
    for item, (prediction, reference) in zip(scored, ENGLISH, strict=True):
        rouge1, rouge_l = _rouge_score_default(prediction, reference)
        assert item.rouge1 == pytest.approx(rouge1, abs=1e-6), prediction
        assert item.rouge_l == pytest.approx(rouge_l, abs=1e-6), prediction
    figures = group_metrics(scored)
    expected = [_rouge_score_default(p, r) for p, r in ENGLISH]
    assert figures["rouge1"] == pytest.approx(statistics.fmean(e[0] for e in expected), abs=1e-6)
    assert figures["rougeL"] == pytest.approx(statistics.fmean(e[1] for e in expected), abs=1e-6)
    # the texts are ones a \\w+ split scores differently, so the test tells them apart
    word_split = rouge_scorer.RougeScorer(["rouge1"], tokenizer=_WordSplit())
    assert any(
        word_split.score(r, p)["rouge1"].fmeasure != pytest.approx(e[0], abs=1e-6)
        for (p, r), e in zip(ENGLISH, expected, strict=True)
    )


class _WordSplit:
    def tokenize(self, text: str) -> list[str]:
        return re.findall(r"\\w+", text.lower())


def test_stemming_is_off_as_in_rouge_scores_default() -> None:
    assert USE_STEMMER is False
    prediction, reference = "The client works hard", "The client worked harder"
    (scored,) = score_pairs([Pair("s", "goal_1", "goal", "en", prediction, reference)])
    stemmed = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=True).score(reference, prediction)
    assert scored.rouge1 == pytest.approx(_rouge_score_default(prediction, reference)[0])
    assert scored.rouge1 != pytest.approx(stemmed["rouge1"].fmeasure)


def test_ascii_text_without_a_language_gets_rouge_scores_tokens() -> None:
    scored = score_pairs([Pair("s", "goal_1", "goal", None, p, r) for p, r in ENGLISH[:5]])
    for item, (prediction, reference) in zip(scored, ENGLISH[:5], strict=True):
        rouge1, rouge_l = _rouge_score_default(prediction, reference)
        assert (item.rouge1, item.rouge_l) == pytest.approx((rouge1, rouge_l), abs=1e-6)


# (language, prediction, reference, prediction tokens, reference tokens) written by hand
OTHER_SCRIPTS = [
    ("de", "Die Klientin fühlt sich über das Ziel unsicher.",
     "Die Klientin ist über ihr Ziel unsicher, sagt sie.",
     ["die", "klientin", "fühlt", "sich", "über", "das", "ziel", "unsicher"],
     ["die", "klientin", "ist", "über", "ihr", "ziel", "unsicher", "sagt", "sie"]),
    ("ru", "Клиентка согласна с целью, но сомневается.",
     "Клиентка не согласна с целью и сомневается.",
     ["клиентка", "согласна", "с", "целью", "но", "сомневается"],
     ["клиентка", "не", "согласна", "с", "целью", "и", "сомневается"]),
    ("hi", "क्लाइंट लक्ष्य से सहमत है।", "क्लाइंट लक्ष्य से पूरी तरह सहमत है।",
     ["क्लाइंट", "लक्ष्य", "से", "सहमत", "है"],
     ["क्लाइंट", "लक्ष्य", "से", "पूरी", "तरह", "सहमत", "है"]),
    ("zh-CN", "来访者同意目标。", "来访者基本同意这个目标。",
     list("来访者同意目标"), list("来访者基本同意这个目标")),
]  # fmt: skip


def test_other_scripts_keep_their_tokenizers_and_score_sensibly() -> None:
    pairs = [Pair("s", "goal_1", "goal", lang, p, r) for lang, p, r, _, _ in OTHER_SCRIPTS]
    for item, (language, prediction, reference, hyp, ref) in zip(
        score_pairs(pairs), OTHER_SCRIPTS, strict=True
    ):
        unigrams = sum((Counter(hyp) & Counter(ref)).values())
        assert item.rouge1 == pytest.approx(_f1(unigrams, len(hyp), len(ref)), abs=1e-6)
        assert item.rouge_l == pytest.approx(_f1(_lcs(hyp, ref), len(hyp), len(ref)), abs=1e-6)
        assert 0.5 < item.rouge_l < 1.0, language
        if language in ("ru", "hi"):  # rouge-score's own tokenizer keeps nothing of these
            assert _rouge_score_default(prediction, reference) == (0.0, 0.0)
        if language == "de":  # it splits "fühlt" and "über" at the umlauts
            assert _rouge_score_default(prediction, reference)[0] != pytest.approx(item.rouge1)
    assert [rouge_tokenizer(lang) for lang, *_ in OTHER_SCRIPTS] == [
        "unicode-words", "unicode-words", "unicode-words", "characters",
    ]  # fmt: skip


def test_the_output_names_the_tokenizer_of_each_language(demo_engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Two English demo sessions become German and Russian ones: each language is scored
    with its tokenizer, and the JSON and the text say which scored how many."""
    references = _references(demo_engine)
    english = sorted({s for (s, _), (_, lang) in references.items() if lang == "en"})
    german, russian = english[:2]
    texts = {german: OTHER_SCRIPTS[0], russian: OTHER_SCRIPTS[1]}
    with demo_engine.begin() as connection:
        for session_id, (language, _, reference, _, _) in texts.items():
            connection.execute(text("UPDATE sessions SET language = :l WHERE id = :s"),
                               {"l": language, "s": session_id})  # fmt: skip
            connection.execute(
                text(
                    "UPDATE rationale_versions SET text = :t WHERE rationale_id IN "
                    "(SELECT id FROM rationales WHERE session_id = :s AND status = 'accepted')"
                ),
                {"t": reference, "s": session_id},
            )
    path, predicted, references, _ = _prediction_file(demo_engine, tmp_path, extra=0)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for record in records:
        if record["session_id"] in texts:
            record["rationale"] = texts[record["session_id"]][1]
    write_jsonl(path, records)
    section = evaluate(demo_engine, path)["rationales"]
    counts = Counter(rouge_tokenizer(references[k][1]) for k in predicted)
    assert section["rouge_tokenizers"] == {
        "rouge-score": {"rationales": counts["rouge-score"], "languages": ["en"]},
        "unicode-words": {"rationales": counts["unicode-words"], "languages": ["de", "ru"]},
        "characters": {"rationales": counts["characters"], "languages": ["zh"]},
    }
    assert counts["unicode-words"] >= 2 and counts["rouge-score"] and counts["characters"]
    assert set(section["tokenization"]["rouge"]) == set(ROUGE_TOKENIZERS)
    assert "use_stemmer=False" in section["tokenization"]["rouge_stemming"]

    from cli.commands.export import format_rationale_table

    result = evaluate(demo_engine, path)
    shown = " ".join(format_rationale_table(result))
    assert "ROUGE (no stemming) tokenized with rouge-score's default tokenizer for " in shown
    assert f"Unicode words for {counts['unicode-words']} (de, ru)" in shown
    assert f"characters for {counts['characters']} (zh)" in shown
