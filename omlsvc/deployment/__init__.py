"""Deployments: URI endpoints over stored models (their documents are built by :mod:`omlsvc.openapi`)."""

from __future__ import annotations
