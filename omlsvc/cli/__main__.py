"""``python -m omlsvc.cli``: the ``omlsvc`` command."""

from __future__ import annotations

import sys

from omlsvc.cli import main

if __name__ == "__main__":
    sys.exit(main())
