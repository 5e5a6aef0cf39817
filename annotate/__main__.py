"""``python -m annotate``: the CLI (``annotate`` or ``python -P -m annotate`` run it too).

``python -m`` puts the current folder first on ``sys.path``. When this package was not
found there (it is installed), that entry goes, so that a folder named ``store/`` or
``tui/`` beside the user does not replace ours. A folder named ``annotate/`` there is
imported by Python before this file runs: ``annotate`` and ``python -P -m annotate``
are the commands that work from any folder.
"""

import sys
from pathlib import Path

_PACKAGE_ROOT = Path(__file__).resolve().parents[1]
if not sys.flags.safe_path and sys.path and Path(sys.path[0] or ".").resolve() != _PACKAGE_ROOT:
    del sys.path[0]

from cli.app import main  # noqa: E402

main()
