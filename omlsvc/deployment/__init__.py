"""Deployments: URI endpoints over stored models, and the OpenAPI documents that describe them.

``openapi`` builds the per-deployment document served at ``GET /omlmod/v1/deployment/{uri}/api``;
``schemas`` holds the JSON-schema fragments of the service-wide API that such documents share.
Both are pure (dict in, dict out) so they can be used without a database or an HTTP framework.
"""

from __future__ import annotations
