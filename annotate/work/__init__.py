"""The experts' work: rationales, reviews, codings, the queue and progress."""
