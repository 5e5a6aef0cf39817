"""UI fixtures: the demo corpus with assigned, drafted work, built once and copied per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from annotate.core.database import initialise, open_store
from annotate.core.demo import DEMO_FILES
from annotate.ingest import import_file
from tests.workdata import prepare_work


@pytest.fixture(scope="session")
def work_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "work.db"
    engine, _ = initialise(str(path))
    for demo_file in DEMO_FILES:
        import_file(engine, demo_file)
    prepare_work(engine)
    engine.dispose()  # the last connection closing checkpoints the WAL into the file
    return path


@pytest.fixture
def work_db(work_template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "work.db"
    for suffix in ("", "-wal"):
        if Path(f"{work_template}{suffix}").exists():
            shutil.copy(f"{work_template}{suffix}", f"{path}{suffix}")
    return path


@pytest.fixture
def work_engine(work_db: Path):  # type: ignore[no-untyped-def]
    engine = open_store(str(work_db))
    yield engine
    engine.dispose()
