"""The turn-level alliance trace (``annotate trace``) against the test server's
deterministic embeddings and the offline lexical method, each checked against an
independent computation: numpy cosines of the server's own vectors, scikit-learn's
TF-IDF."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from annotate.core.errors import ConfigError
from annotate.core.guidelines import DEFAULT_INSTRUMENT, GUIDELINES_DIR, load_instrument
from annotate.deid import endpoint
from annotate.research.stored import session_trace, traces_of
from annotate.research.trace import TraceSettings, run_trace
from cli.app import app
from store.db import session_scope
from store.tables import TURN_ALLIANCE
from tests.factories import session_record
from tests.llm_server import FakeLLM, ServerThread, fake_embedding

runner = CliRunner()
SPEC = load_instrument(DEFAULT_INSTRUMENT)
DIMENSIONS = ("goal", "task", "bond")
EN_TURNS = [
    {"speaker": "counselor", "text": "What would you like us to work on together today?"},
    {"speaker": "client", "text": "I want to agree on goals, I trust you can help me."},
    {"speaker": "counselor", "text": "Say more."},
    {"speaker": "client", "text": "The activities make sense, I understand what to do."},
    {"speaker": "counselor", "text": "I appreciate how much you put into this week."},
]
ZH_TURNS = [
    {"speaker": "counselor", "text": "今天你想和我一起解决什么问题？"},
    {"speaker": "client", "text": "我们的目标一致，我相信你能帮助我。"},
    {"speaker": "counselor", "text": "我很欣赏你这周的努力。"},
]


def _chinese_wording() -> dict[str, dict[str, str]]:
    import tomllib

    path = GUIDELINES_DIR / "trace" / "wai-sr.zh.toml"
    return tomllib.loads(path.read_text(encoding="utf-8"))["items"]


def _expected(text: str, speaker: str, language: str, embed) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """The turn's score per dimension computed here: the mean cosine with the items of the
    dimension in the speaker's form and the session's language."""
    chinese = _chinese_wording()
    found = {}
    for dimension in DIMENSIONS:
        texts = []
        for item in SPEC.items:
            if item.dimension != dimension:
                continue
            if language == "zh":
                wording = chinese[item.id]
                texts.append(wording["counselor_text" if speaker == "counselor" else "text"])
            else:
                texts.append(item.counselor_text if speaker == "counselor" else item.text)
        turn = np.asarray(embed(text), dtype=float)
        sims = [turn @ np.asarray(embed(t), dtype=float)
                / (np.linalg.norm(turn) * np.linalg.norm(embed(t))) for t in texts]  # fmt: skip
        found[dimension] = float(np.mean(sims))
    return found


@pytest.fixture
def fake():  # type: ignore[no-untyped-def]
    server = FakeLLM()
    with ServerThread(server):
        yield server


@pytest.fixture
def traced_store(engine: Engine, add_sessions) -> Engine:  # type: ignore[no-untyped-def]
    add_sessions([
        session_record("t-en", turns=EN_TURNS),
        session_record("t-zh", client_id="cl2", language="zh", turns=ZH_TURNS),
    ])  # fmt: skip
    return engine


def _rows(engine: Engine) -> list[dict]:
    with engine.connect() as connection:
        t = TURN_ALLIANCE.c
        query = select(TURN_ALLIANCE).order_by(t.session_id, t.model, t.turn_number)
        return [dict(r._mapping) for r in connection.execute(query)]


@pytest.mark.both_backends
def test_the_embedding_trace_equals_an_independent_cosine_per_turn_and_session(
    traced_store: Engine, fake: FakeLLM
) -> None:
    settings = TraceSettings(provider="openai", model="test-embed", base_url=fake.base_url,
                             max_retries=0)  # fmt: skip
    run = run_trace(traced_store, settings, concurrency=2)
    assert (run.ok, run.failed, run.skipped, run.method) == (2, 0, 0, "embedding")
    assert run.turns == 5 + 3
    rows = _rows(traced_store)
    assert {(r["session_id"], r["turn_number"]) for r in rows} == {
        ("t-en", 1), ("t-en", 2), ("t-en", 3), ("t-en", 4), ("t-en", 5),
        ("t-zh", 1), ("t-zh", 2), ("t-zh", 3)}  # fmt: skip
    turns = {"t-en": ("en", EN_TURNS), "t-zh": ("zh", ZH_TURNS)}
    for row in rows:
        language, transcript = turns[row["session_id"]]
        turn = transcript[row["turn_number"] - 1]
        expected = _expected(turn["text"], turn["speaker"], language, fake_embedding)
        assert row["scores"].keys() == expected.keys()
        for dimension, value in expected.items():
            assert row["scores"][dimension] == pytest.approx(value, abs=1e-12)
        assert (row["method"], row["model"], row["instrument_version"]) == (
            "embedding",
            "test-embed",
            SPEC.version,
        )
        assert row["params"]["form"] == turn["speaker"]
        assert row["params"]["wording"] == ("zh" if language == "zh" else "instrument")
        assert row["params"]["base_url_host"] == f"127.0.0.1:{fake.port}"
        assert "deidentify" not in row["params"]  # a local endpoint: nothing to record
    # The session's score is the mean over each speaker's turns.
    with session_scope(traced_store) as session:
        trace = session_trace(session, "t-en")
    assert trace is not None and trace.dimensions == DIMENSIONS
    for speaker in ("client", "counselor"):
        mine = [_expected(t["text"], speaker, "en", fake_embedding) for t in EN_TURNS
                if t["speaker"] == speaker and t["text"].strip()]  # fmt: skip
        for dimension in DIMENSIONS:
            assert trace.means()[speaker][dimension] == pytest.approx(
                np.mean([m[dimension] for m in mine]), abs=1e-12
            )
    # What was asked: the items once, then each session's scored turns in one request.
    inputs = [body["input"] for body in fake.embedding_bodies]
    assert len(inputs) == 3 and all(b["model"] == "test-embed" for b in fake.embedding_bodies)
    assert sorted(map(len, inputs[1:])) == [3, 5]


def test_a_rerun_resumes_and_force_replaces(traced_store: Engine, fake: FakeLLM) -> None:
    settings = TraceSettings(provider="openai", model="test-embed", base_url=fake.base_url)
    run_trace(traced_store, settings, sessions=["t-en"])
    again = run_trace(traced_store, settings)
    assert (again.skipped, again.ok) == (1, 1)  # t-en kept, t-zh traced
    before = _rows(traced_store)
    forced = run_trace(traced_store, settings, force=True, sessions=["t-en"])
    assert (forced.ok, forced.skipped) == (1, 0)
    after = _rows(traced_store)
    assert len(after) == len(before) == 8  # replaced, not added
    other = run_trace(traced_store, TraceSettings(provider="offline"))
    assert other.ok == 2 and len(_rows(traced_store)) == 16  # a method keeps its own rows
    with session_scope(traced_store) as session:
        newest = session_trace(session, "t-en")
    assert newest is not None and newest.method == "lexical"  # the strip shows the newest


def test_the_offline_method_labels_itself_and_equals_scikit_learn(
    traced_store: Engine, tmp_path: Path
) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    run = run_trace(traced_store, None)
    assert run.method == "lexical" and "no model" in run.label
    rows = _rows(traced_store)
    assert {r["method"] for r in rows} == {"lexical"} and {r["params"].get("base_url_host")
                                                          for r in rows} == {None}  # fmt: skip
    chinese = _chinese_wording()
    items = [i.text for i in SPEC.items] + [i.counselor_text for i in SPEC.items]
    items += [w["text"] for w in chinese.values()] + [w["counselor_text"] for w in chinese.values()]
    vectoriser = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4)).fit(items)

    def embed(text: str) -> np.ndarray:
        return vectoriser.transform([text]).toarray()[0]

    def cosine_or_zero(text: str, speaker: str, language: str) -> dict[str, float]:
        vector = embed(text)
        if not vector.any():
            return dict.fromkeys(DIMENSIONS, 0.0)
        return _expected(text, speaker, language, embed)

    turns = {"t-en": ("en", EN_TURNS), "t-zh": ("zh", ZH_TURNS)}
    for row in rows:
        language, transcript = turns[row["session_id"]]
        turn = transcript[row["turn_number"] - 1]
        expected = cosine_or_zero(turn["text"], turn["speaker"], language)
        for dimension, value in expected.items():
            assert row["scores"][dimension] == pytest.approx(value, abs=1e-9)
    assert any(r["scores"]["goal"] > 0.05 for r in rows if r["session_id"] == "t-zh")
    db = str(traced_store.url.database)
    shown = runner.invoke(app, ["--db", db, "trace", "--provider", "offline", "--session", "t-en"])
    assert shown.exit_code == 0 and "lexical" in shown.stdout and "no model" in shown.stdout


def test_the_cli_json_gives_turn_and_session_figures_equal_to_the_store(
    traced_store: Engine, fake: FakeLLM
) -> None:
    db = str(traced_store.url.database)
    result = runner.invoke(app, ["--db", db, "trace", "--json", "--base-url", fake.base_url,
                                 "--model", "test-embed", "--concurrency", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["run"]["ok"] == 2 and data["run"]["method"] == "embedding"
    stored = {(r["session_id"], r["turn_number"]): r["scores"] for r in _rows(traced_store)}
    shown = {
        (s["session_id"], t["turn"]): t["scores"] for s in data["sessions"] for t in s["turns"]
    }
    assert shown == stored
    zh = next(s for s in data["sessions"] if s["session_id"] == "t-zh")
    client = [stored[("t-zh", 2)]]
    assert zh["session"]["client"] == pytest.approx(client[0])
    assert "目标" not in result.stdout  # figures only: no transcript text in the output


@pytest.mark.parametrize(("model", "message"), [
    ("embed-500", "HTTP 500 from 127.0.0.1"),
    ("embed-short", "embeddings for"),
    ("embed-nan", "NaN"),
    ("embed-ragged", "HTTP 200 from"),
])  # fmt: skip
def test_a_failing_endpoint_fails_in_one_line_and_stores_nothing(
    traced_store: Engine, fake: FakeLLM, model: str, message: str
) -> None:
    db = str(traced_store.url.database)
    result = runner.invoke(app, ["--db", db, "trace", "--base-url", fake.base_url, "--model",
                                 model, "--max-retries", "0"])  # fmt: skip
    assert result.exit_code == 1
    assert "Traceback" not in result.output and message in result.output
    assert _rows(traced_store) == []


def test_a_failed_session_is_counted_and_a_rerun_retries_it(
    traced_store: Engine, fake: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One session's request fails (the server is down for it): the other is stored, the
    run says which failed and exits 1; the rerun traces only the failed one."""
    settings = TraceSettings(provider="openai", model="test-embed", base_url=fake.base_url,
                             max_retries=0)  # fmt: skip
    from annotate.research import embeddings

    real = embeddings.EmbeddingClient._batch
    calls = {"n": 0}

    async def flaky(self, texts):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if any("相信你能帮助我" in t for t in texts) and calls["n"] < 5:
            from annotate.drafting.base import ProviderError

            raise ProviderError("HTTP 503 from the test: try later")
        return await real(self, texts)

    monkeypatch.setattr(embeddings.EmbeddingClient, "_batch", flaky)
    run = run_trace(traced_store, settings)
    assert (run.ok, run.failed) == (1, 1) and run.errors[0].startswith("t-zh: HTTP 503")
    assert {r["session_id"] for r in _rows(traced_store)} == {"t-en"}
    monkeypatch.setattr(embeddings.EmbeddingClient, "_batch", real)
    rerun = run_trace(traced_store, settings)
    assert (rerun.ok, rerun.skipped, rerun.failed) == (1, 1, 0)


def test_an_unknown_session_or_provider_is_a_one_line_error(traced_store: Engine) -> None:
    db = str(traced_store.url.database)
    for args, said in ((["--session", "nope"], "no session 'nope'"),
                       (["--provider", "ollama"], "unknown provider"),
                       (["--provider", "offline", "--model", "x"], "takes no --model"),
                       (["--deidentify-mode", "blur", "--base-url", "http://127.0.0.1:9/v1"],
                        "--deidentify-mode")):  # fmt: skip
        result = runner.invoke(app, ["--db", db, "trace", *args])
        assert result.exit_code != 0 and said in result.output, (args, result.output)
        assert "Traceback" not in result.output
    assert _rows(traced_store) == []
    with pytest.raises(ConfigError, match="cannot embed the instrument's items"):
        run_trace(traced_store, TraceSettings(provider="openai", base_url="http://127.0.0.1:9/v1",
                                              max_retries=0, timeout=2))  # fmt: skip


def test_a_remote_endpoint_gets_deidentified_turns_and_the_scores_keep_the_turns(
    engine: Engine, tmp_path: Path, fake: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.deid.planted import import_planted, leaks

    import_planted(engine, tmp_path)
    monkeypatch.setattr(endpoint, "is_local", lambda base_url, **_: False)
    settings = TraceSettings(provider="openai", model="test-embed", base_url=fake.base_url)
    run = run_trace(engine, settings)
    assert run.ok == 2 and run.failed == 0
    assert leaks(fake.raw_bodies) == []  # no planted name, place, date or number was sent
    rows = _rows(engine)
    assert len(rows) == 12 and all(r["params"]["deidentify"]["mode"] == "surrogate" for r in rows)
    fake.raw_bodies.clear()
    plain = run_trace(engine, TraceSettings(provider="openai", model="other", deidentify=False,
                                            base_url=fake.base_url))  # fmt: skip
    assert plain.ok == 2 and leaks(fake.raw_bodies)  # what the user chose to send
    with engine.connect() as connection:
        off = connection.execute(select(TURN_ALLIANCE.c.params).where(
            TURN_ALLIANCE.c.model == "other")).scalars().all()  # fmt: skip
    assert off and all(p["deidentify"] == {"off": "explicit"} for p in off)


def test_the_key_is_never_printed(traced_store: Engine, fake: FakeLLM,
                                  monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    secret = "sk-test-trace-0123456789abcdef"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    db = str(traced_store.url.database)
    result = runner.invoke(app, ["--db", db, "trace", "--base-url", fake.base_url, "--model",
                                 "embed-500", "--max-retries", "0", "--json"])  # fmt: skip
    assert result.exit_code == 1 and secret[8:20] not in result.output
    assert fake.embedding_bodies and secret.encode() not in b"".join(fake.raw_bodies)


def test_traces_of_reads_one_method_and_model(traced_store: Engine, fake: FakeLLM) -> None:
    run_trace(traced_store, None)
    run_trace(traced_store, TraceSettings(provider="openai", model="test-embed",
                                          base_url=fake.base_url))  # fmt: skip
    lexical = traces_of(traced_store, None, "lexical", "char-wb-2-4-tfidf-1")
    assert [t.session_id for t in lexical] == ["t-en", "t-zh"]
    assert all(t.method == "lexical" for t in lexical)
    with traced_store.connect() as connection:
        assert connection.execute(select(func.count()).select_from(TURN_ALLIANCE)).scalar() == 16


def test_validate_shows_the_domain_figures_and_needs_a_trace(
    traced_store: Engine, add_sessions
) -> None:  # type: ignore[no-untyped-def]
    from annotate.research import validate

    db = str(traced_store.url.database)
    empty = runner.invoke(app, ["--db", db, "trace", "--validate"])
    assert empty.exit_code == 1 and "run 'annotate trace' first" in empty.output
    assert "Traceback" not in empty.output
    records = [session_record(f"v{n}", client_id=f"c{n % 4}", turns=EN_TURNS[n % 3:],
                              client_ratings={i.id: 1 + (n * 7 + k) % 5
                                              for k, i in enumerate(SPEC.items)},
                              metadata={"condition": "焦虑" if n % 2 else "grief"})
               for n in range(12)]  # fmt: skip
    add_sessions(records)
    run_trace(traced_store, None)
    result = runner.invoke(app, ["--db", db, "trace", "--validate", "--json", "--boot", "200"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    expected = validate.records(validate.correlations(traced_store, n_boot=200))
    assert shown["correlations"] == expected
    assert shown["trace"]["method"] == "lexical" and shown["trace"]["sessions"] == 14
    conditions = {row["condition"] for row in shown["gap_by_condition"]}
    assert conditions == {None, "焦虑", "grief"}
    table = runner.invoke(app, ["--db", db, "trace", "--validate", "--boot", "200"])
    assert table.exit_code == 0 and "焦虑" in table.stdout and "all" in table.stdout
    first = next(r for r in expected if r["speaker"] == "client" and r["dimension"] == "goal")
    assert f"{first['pearson_r']:.2f} [" in table.stdout
    wrong = runner.invoke(app, ["--db", db, "trace", "--validate", "--session", "v1"])
    assert wrong.exit_code != 0 and "takes no --session" in wrong.output


def test_an_instrument_without_a_counselor_form_compares_counselors_with_the_client_form(
    traced_store: Engine, fake: FakeLLM, tmp_path: Path
) -> None:
    """A team's wording with no counselor_text (and not the shipped paraphrase): every
    turn is compared with the team's client form, in every language."""
    text = DEFAULT_INSTRUMENT.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.startswith("counselor_text")]
    own = "\n".join(lines).replace('version = "1.1.0"', 'version = "1.1.0+team"')
    own = own.replace("We agree on what is important for me to work on.",
                      "Our team's own wording of the first goal item.")  # fmt: skip
    path = tmp_path / "team.toml"
    path.write_text(own, encoding="utf-8")
    db = str(traced_store.url.database)
    loaded = runner.invoke(app, ["--db", db, "instrument", "load", str(path)])
    assert loaded.exit_code == 0, loaded.output
    run_trace(traced_store, TraceSettings(provider="openai", model="test-embed",
                                          base_url=fake.base_url))  # fmt: skip
    team = load_instrument(path)
    assert all(item.counselor_text is None for item in team.items)
    for row in _rows(traced_store):
        assert row["params"]["form"] == "client" and row["params"]["wording"] == "instrument"
        assert row["instrument_version"] == "1.1.0+team"
        language, transcript = ("zh", ZH_TURNS) if row["session_id"] == "t-zh" else ("en", EN_TURNS)
        turn = transcript[row["turn_number"] - 1]
        expected = {}
        for dimension in DIMENSIONS:
            items = [i.text for i in team.items if i.dimension == dimension]
            vector = np.asarray(fake_embedding(turn["text"]))
            expected[dimension] = float(
                np.mean(
                    [
                        vector
                        @ np.asarray(fake_embedding(t))
                        / (np.linalg.norm(vector) * np.linalg.norm(fake_embedding(t)))
                        for t in items
                    ]
                )
            )
        assert row["scores"] == pytest.approx(expected, abs=1e-12), language
