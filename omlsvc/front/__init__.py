"""The production front: nginx in front of gunicorn (ARCHITECTURE "Production topology")."""
