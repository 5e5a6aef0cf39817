"""The response format each endpoint and model answered, remembered in the store.

A refused structured-output mode costs a request; remembering the mode that worked per
(base_url_host, model) lets a rerun, ``draft --markers`` and every request in flight
start with it. A forced ``--response-format`` neither reads nor writes it.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import col

from store.models import EndpointFormat, utcnow


class FormatMemory:
    """Reads and writes ``endpoint_formats`` through an engine (sync; async wrappers)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def recall(self, host: str, model: str) -> str | None:
        """The format last answered by this endpoint and model, or None."""
        with self.engine.connect() as connection:
            return connection.execute(
                select(col(EndpointFormat.response_format)).where(
                    col(EndpointFormat.base_url_host) == host, col(EndpointFormat.model) == model
                )
            ).scalar()

    def remember(self, host: str, model: str, response_format: str) -> None:
        """Record (or confirm) the format this endpoint and model answered."""
        values = {"base_url_host": host, "model": model, "response_format": response_format,
                  "confirmed_at": utcnow()}  # fmt: skip
        with self.engine.begin() as connection:
            from sqlalchemy.dialects import postgresql, sqlite

            dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
            statement = dialect.insert(EndpointFormat).values(**values)
            connection.execute(
                statement.on_conflict_do_update(
                    index_elements=["base_url_host", "model"],
                    set_={
                        "response_format": response_format,
                        "confirmed_at": values["confirmed_at"],
                    },
                )  # fmt: skip
            )

    async def arecall(self, host: str, model: str) -> str | None:
        return await asyncio.to_thread(self.recall, host, model)

    async def aremember(self, host: str, model: str, response_format: str) -> None:
        await asyncio.to_thread(self.remember, host, model, response_format)
