"""The test PostgreSQL server: a machine without the binaries gets a clear skip reason."""

from __future__ import annotations

import pytest

from tests import pgserver


def test_missing_binaries_name_the_package_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pgserver.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(pgserver.shutil, "which", lambda name: None)
    with pytest.raises(pgserver.Unavailable, match="install the 'postgresql' package"):
        pgserver.find_bindir()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_the_server_is_local_and_private(backend: str, db_url: str, pg_server) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    from store.db import make_engine

    assert "@127.0.0.1:" in db_url
    engine = make_engine(db_url)
    with engine.connect() as connection:
        assert connection.execute(text("SHOW listen_addresses")).scalar() == "127.0.0.1"
        assert connection.execute(text("SHOW TimeZone")).scalar() == "UTC"  # set per session
    engine.dispose()
