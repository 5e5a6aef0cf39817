"""CLI commands, one module per area; each module defines ``register(app)``."""
