"""Users, passwords and OML-style bearer tokens."""
