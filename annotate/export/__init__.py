"""Training-ready export: records, client-grouped folds, writers and the manifest.

``records`` decides what is exported and reads it in ordered batches, ``folds``
assigns clients to folds, ``formats`` shapes each record for a trainer, ``writer``
streams the files and ``manifest`` describes them; ``service.export_dataset`` runs it.
"""

from annotate.export.service import ExportOptions, export_dataset

__all__ = ["ExportOptions", "export_dataset"]
