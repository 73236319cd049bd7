"""Batch scoring jobs (``/omlmod/v1/jobs``, spec ``oml-jobs.md``): schedules, runs and the runner."""
