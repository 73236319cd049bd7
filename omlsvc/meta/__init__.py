"""Service-level documents: API versions, the service's OpenAPI document, health probes."""
