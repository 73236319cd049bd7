"""The shared core: who is calling and what they may do, errors, the clock, names and limits, the
scoring signature. No SQL, no HTTP: every capability and transport stands on it."""
