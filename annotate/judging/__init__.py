"""A model's judgement of rationales on the rubric (``annotate judge``), for project leads:
never shown to reviewers, and worth only as much as its measured agreement with them."""

from annotate.judging.service import (
    JudgeRun,
    JudgeSelection,
    Standing,
    estimate_judge,
    run_judge,
)

__all__ = [
    "JudgeRun",
    "JudgeSelection",
    "Standing",
    "estimate_judge",
    "run_judge",
]
