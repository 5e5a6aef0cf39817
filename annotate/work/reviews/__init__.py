"""Blind cross-review: the reviewer's queue, the writer of reviews, model predictions."""
