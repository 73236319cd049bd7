"""The OpenAPI documents of the HTTP API, built with one toolkit (:mod:`~omlsvc.openapi.builders`).

``service`` builds the service's document (``GET /omlmod/v1/api``) from ``service_paths``, ``jobs``
and the shared component ``schemas``; ``deployment`` builds each deployment's own document
(``GET /omlmod/v1/deployment/{uri}/api``) from ``deployment_schemas``. Error responses come from the
one error table (:mod:`omlsvc.openapi.error_table`), patterns and limits from :mod:`omlsvc.core`. Everything
here is pure (values in, JSON-ready dicts of fresh objects out): no falcon, no database.
"""
