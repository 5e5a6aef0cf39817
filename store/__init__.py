"""The store: SQLModel tables, engines and Alembic migrations."""
