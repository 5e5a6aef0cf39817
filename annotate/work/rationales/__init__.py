"""The life of a rationale, written in one place.

A rationale is one (session, item) of expert work. Its texts are versions, never
overwritten; ``rationales.current_version`` names the one that is its text, and is
changed only by :func:`versions.store_version`, in the same UPDATE that wins the
optimistic check. A save that lost that check is kept as a ``conflict`` version and
never becomes current. Reviews name the version they scored
(:func:`reviews.record_review`). ``rationales.draft_id`` is the draft the current text
began from. Every reader (export, statistics, progress, the queue, the UI, import) takes
these stored facts; none derives them again.

- :mod:`annotate.work.rationales.rules`: what text may be stored and accepted (scaffolding).
- :mod:`annotate.work.rationales.versions`: the writer of versions; reads of current texts.
- :mod:`annotate.work.rationales.editor`: the author's side (open, autosave, save, accept, flag).
- :mod:`annotate.work.reviews.write`: the writer of reviews.
"""
