"""``python -m bench``: the scoring bench (see :mod:`bench.run`)."""

from bench.run import main

if __name__ == "__main__":  # spawned helper processes import this module too
    raise SystemExit(main())
