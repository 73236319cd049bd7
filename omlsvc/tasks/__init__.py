"""Long operations as tasks (issue 15): URL import, variants, profiles."""
