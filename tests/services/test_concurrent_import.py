"""Two imports of overlapping files at once: one writes, the other finds it done; no error."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from annotate.ingest import import_file
from annotate.work.progress import counts
from tests.factories import session_record, write_jsonl

pytestmark = pytest.mark.both_backends


def test_simultaneous_imports_of_the_same_sessions(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    records = [session_record(f"same{n}", client_id=f"c{n % 9}") for n in range(600)]
    paths = [write_jsonl(tmp_path / f"copy{i}.jsonl", records) for i in range(3)]
    results, failures = [], []
    start = threading.Barrier(len(paths))

    def run(path: Path) -> None:
        start.wait()
        try:
            results.append(import_file(engine, path))
        except Exception as error:  # collected and asserted below
            failures.append(error)

    threads = [threading.Thread(target=run, args=(path,)) for path in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert sorted((r.created, r.unchanged) for r in results) == [(0, 600), (0, 600), (600, 0)]
    figures = counts(engine)
    assert (figures["sessions"], figures["clients"]) == (600, 9)
