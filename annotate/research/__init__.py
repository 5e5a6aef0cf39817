"""Research views over the store: the turn-level alliance trace (``trace``), counselor
effects and clients not on track (``counselors``, ``watch``).

A room between analysis (whose report shows these views) and drafting (whose endpoint,
retries and de-identification the trace's embedding requests share). What these views
compute is a signal for leads and supervisors, not a measurement: each says so where
it is shown.
"""
