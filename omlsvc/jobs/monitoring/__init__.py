"""Monitoring jobs (spec ``oml-monitoring.md``): DATA_MONITORING, MODEL_MONITORING and DATA_BIAS."""
