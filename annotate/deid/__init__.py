"""De-identification: what in a transcript names a person, place, date or number, and
the surrogates that replace it before text leaves the machine (a request to a model, a
training file). Detection and surrogates are pure (``detect``, ``surrogates``); the map
from surrogate to original lives only in the store (``service``)."""
