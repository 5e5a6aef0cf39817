"""The experts' terminal UI (Textual): queue, annotate, review, progress and help screens."""
