"""The OML REST transport: Falcon resources that parse and render only, the middleware that decides
authentication after routing, and the one mapping of domain errors to HTTP."""
