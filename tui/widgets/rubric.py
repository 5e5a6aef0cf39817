"""The review rubric with every score's definition, for the reviewer to keep in view."""

from __future__ import annotations

from rich.text import Text

from annotate.core.guidelines import Rubric


def rubric_text(rubric: Rubric) -> Text:
    text = Text()
    text.append(
        f"A score below {rubric.threshold} on any criterion sends the rationale back.\n",
        style="italic",
    )
    for criterion in rubric.criteria.values():
        text.append(f"\n{criterion.name}: ", style="bold")
        text.append(f"{criterion.question}\n")
        for score in sorted(criterion.scores, reverse=True):
            style = "red" if score < rubric.threshold else ""
            text.append(f"  {score} ", style=f"bold {style}")
            text.append(f"{criterion.scores[score]}\n", style=style)
    return text
