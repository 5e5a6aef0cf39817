"""The core of the domain: errors, vocabulary, guideline loaders, settings and opening the store."""
