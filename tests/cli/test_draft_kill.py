"""Killing a drafting batch mid-way loses no finished draft; the rerun pays for nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlmodel import select

from annotate.core.workflow import DRAFT_OK
from annotate.ingest import import_file
from store.db import session_scope
from store.models import Draft
from tests.factories import ITEMS, session_record, write_jsonl
from tests.llm_server import FakeLLM, ServerThread

ROOT = Path(__file__).resolve().parents[2]
SESSIONS = 10
CONCURRENCY = 4


def _corpus(tmp_path: Path) -> Path:
    records = []
    for n in range(SESSIONS):
        chinese = n % 2 == 1
        turns = [
            {"speaker": "counselor", "text": "今天想聊什么？" if chinese else "What brings you?"},
            {
                "speaker": "client",
                "text": f"我最近睡不好，第{n}周了。" if chinese else f"Week {n} of bad sleep.",
            },
            {"speaker": "counselor", "text": "我们一起看看。" if chinese else "Let us look."},
            {"speaker": "client", "text": "好的，谢谢你。" if chinese else "Okay, thank you."},
        ]
        language = "zh" if chinese else "en"
        records.append(session_record(f"k{n:02d}", turns=turns, language=language))
    return write_jsonl(tmp_path / "kill.jsonl", records)


def _ok_drafts(engine) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        rows = session.exec(select(Draft).where(Draft.status == DRAFT_OK)).all()
    counts: dict[str, int] = {}
    for row in rows:
        key = f"{row.session_id}/{row.item_id}"
        counts[key] = counts.get(key, 0) + 1
    return counts


@pytest.mark.parametrize("how", ["kill", "interrupt"])
def test_killed_batch_resumes_without_paying_twice(
    engine, db_url: str, tmp_path: Path, how: str
) -> None:  # type: ignore[no-untyped-def]
    import_file(engine, _corpus(tmp_path))
    every_item = {f"k{n:02d}/{item}" for n in range(SESSIONS) for item in ITEMS}
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    fake = FakeLLM(latency=0.04)
    with ServerThread(fake):
        command = [
            sys.executable,
            "-m",
            "annotate",
            "--db",
            db_url,
            "draft",
            "--provider",
            "openai",
            "--base-url",
            fake.base_url,
            "--concurrency",
            str(CONCURRENCY),
        ]
        first = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 60
        while sum(fake.requests.values()) < 40 and time.monotonic() < deadline:
            time.sleep(0.01)
        if how == "kill":
            first.kill()
        else:
            first.send_signal(signal.SIGINT)
        _, stderr = first.communicate(timeout=30)
        if how == "kill":
            assert first.returncode == -signal.SIGKILL
        else:
            assert first.returncode == 130, stderr
            assert "interrupted: finished work is saved" in stderr
        first_requests = dict(fake.requests)
        saved_first = set(_ok_drafts(engine))
        assert 0 < len(saved_first) < len(every_item)
        assert saved_first <= set(first_requests)

        fake.requests.clear()
        second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        assert second.returncode == 0, second.stderr
        second_requests = dict(fake.requests)

    assert not saved_first & set(second_requests)  # nothing already drafted was asked again
    assert set(first_requests) | set(second_requests) == every_item  # none missing
    assert all(n == 1 for n in first_requests.values())
    assert all(n == 1 for n in second_requests.values())
    asked_twice = set(first_requests) & set(second_requests)
    # Only requests in flight (or replies not yet committed) at the kill are asked again.
    assert asked_twice == set(first_requests) - saved_first
    assert len(asked_twice) <= 2 * CONCURRENCY
    final = _ok_drafts(engine)
    assert set(final) == every_item and all(n == 1 for n in final.values())
