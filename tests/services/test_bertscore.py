"""BERTScore of predicted rationales, with a tiny model this test builds (no download).

Runs where the ``bertscore`` extra (bert-score, transformers, torch) is installed; the
dev install leaves it out so that every fresh ``make test`` does not fetch torch.
"""

from __future__ import annotations

import re
import statistics
from pathlib import Path

import pytest

pytest.importorskip("bert_score")
pytest.importorskip("transformers")

from annotate.analysis.evaluate import evaluate  # noqa: E402
from tests.services.test_evaluate_rationales import _prediction_file  # noqa: E402


def _tiny_model(directory: Path, texts: list[str]) -> Path:
    """A 2-layer BERT with a vocabulary of the texts' words and characters, random weights."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    words = sorted({word for text in texts for word in re.findall(r"[a-z0-9]+", text.lower())})
    characters = sorted({char for text in texts for char in text.lower() if not char.isspace()})
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = [*specials, *words, *characters, *(f"##{c}" for c in characters)]
    directory.mkdir(parents=True)
    (directory / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(directory / "vocab.txt"), model_max_length=512)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64)  # fmt: skip
    BertModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def test_bertscore_per_dimension_equals_bert_score_itself(demo_engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bert_score import score

    path, texts, references, _ = _prediction_file(demo_engine, tmp_path)
    keys = sorted(texts)
    model = _tiny_model(tmp_path / "model",
                        [texts[k] for k in keys] + [references[k][0] for k in keys])  # fmt: skip
    section = evaluate(demo_engine, path, bertscore_model=model)["rationales"]
    _, _, f1 = score([texts[k] for k in keys], [references[k][0] for k in keys],
                     model_type=str(model), num_layers=2)  # fmt: skip
    by_key = dict(zip(keys, f1.tolist(), strict=True))
    for group in ("goal", "task", "bond", "all"):
        members = [k for k in keys if group == "all" or k[1].startswith(group)]
        expected = statistics.fmean(by_key[k] for k in members)
        assert section["overall"][group]["bertscore_f1"] == pytest.approx(expected, abs=1e-6)
    assert section["bertscore"]["model"] == str(model) and section["bertscore_note"] is None


def test_identical_rationales_have_bertscore_1(demo_engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path, texts, _, _ = _prediction_file(demo_engine, tmp_path, identical=True, extra=0)
    model = _tiny_model(tmp_path / "model", list(texts.values()))
    overall = evaluate(demo_engine, path, bertscore_model=model)["rationales"]["overall"]["all"]
    assert overall["bertscore_f1"] == pytest.approx(1.0, abs=1e-5)


def test_a_directory_without_a_model_is_one_line(demo_engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from annotate.core.errors import ConfigError

    path, _, _, _ = _prediction_file(demo_engine, tmp_path)
    with pytest.raises(ConfigError, match="not a model directory"):
        evaluate(demo_engine, path, bertscore_model=tmp_path)
