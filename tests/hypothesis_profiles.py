"""Hypothesis profiles (registered in tests/conftest.py) and the example count they give.

``default`` is what ``make test`` runs: each property test keeps the example count
written beside it, chosen so that the whole suite stays within minutes, and the
hostile-file suite is derandomized (the same variants every run: a red CI names a
regression, not a lucky draw).

``slow`` is a nightly-style hunt (``make test-slow``, ``pytest --hypothesis-profile=slow``
or ``ANNOTATE_HYPOTHESIS_PROFILE=slow``): SLOW_FACTOR times the examples of every
property test, drawn afresh each run.

``ANNOTATE_HYPOTHESIS_EXAMPLES=N`` still sets the count of the hostile-file and import
property tests outright (and ``ANNOTATE_STATEFUL_EXAMPLES=N`` that of the state
machines); either one means a hunt, so it loads ``slow`` too.
"""

from __future__ import annotations

import os

from hypothesis import settings

SLOW = "slow"
SLOW_FACTOR = 12
HUNT_VARIABLES = ("ANNOTATE_HYPOTHESIS_EXAMPLES", "ANNOTATE_STATEFUL_EXAMPLES")


def register() -> None:
    """Register ``slow`` and load the profile the environment asks for.

    ``--hypothesis-profile`` (read later, in hypothesis' pytest_configure) wins over both.
    """
    settings.register_profile(SLOW, max_examples=100 * SLOW_FACTOR, derandomize=False)
    wanted = os.environ.get("ANNOTATE_HYPOTHESIS_PROFILE")
    if not wanted and any(os.environ.get(name) for name in HUNT_VARIABLES):
        wanted = SLOW
    if wanted:
        settings.load_profile(wanted)


def hunting() -> bool:
    """True under the ``slow`` profile: new random variants, many more of them."""
    return settings.get_current_profile_name() == SLOW


def examples(suite: int, variable: str | None = None) -> int:
    """The example count of a property test that runs SUITE examples in ``make test``
    (or the count the environment VARIABLE gives, when set).

    Call it when the test module is imported (the profile is loaded by then).
    """
    given = os.environ.get(variable) if variable else None
    if given:
        return int(given)
    return suite * SLOW_FACTOR if hunting() else suite
