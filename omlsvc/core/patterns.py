"""Identifier patterns: the one definition of every name the service checks.

Each is a compiled regular expression meant for ``fullmatch`` (never ``match`` or ``search``: a
trailing newline must not slip through ``$``). The OpenAPI documents write the same expressions as
anchored ``^...$`` strings (:func:`anchored`), which ECMA-262, the dialect OpenAPI uses, reads as a
full match; a unit test holds the two readings to the same answers.
"""

from __future__ import annotations

import re

#: A user of the service (token ``sub``, model owner, grantee).
USER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_$#]{0,127}")
#: A database identity (PostgreSQL role, Oracle user): always quoted in SQL, and kept to a plain
#: identifier that fits both databases' limits.
DB_ROLE = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")
#: A stored model's id: a UUID as the repository writes it.
MODEL_ID = re.compile(r"[a-z0-9-]{32,36}")
#: ``modelName`` (spec section 4.1, anchored as the spec settles it).
MODEL_NAME = re.compile(r"[A-Za-z0-9_#$]{1,50}")
#: ``version``: one or two digits, optionally a dot and one or two more (Oracle's escaping normalised).
VERSION = re.compile(r"[1-9]?[0-9](\.[0-9][0-9]?)?")
#: ``namespace``: may be empty.
NAMESPACE = re.compile(r"[A-Za-z0-9_]{0,50}")
#: A deployment's ``uri``: written literally into paths, so letters, digits and ``_`` only.
DEPLOYMENT_URI = re.compile(r"[A-Za-z0-9_]{1,200}")
#: A job id: ``OML$`` + an upper-case UUID with underscores.
JOB_ID = re.compile(r"OML\$[0-9A-F]{8}_[0-9A-F]{4}_[0-9A-F]{4}_[0-9A-F]{4}_[0-9A-F]{12}")
#: A table, schema or column name a job may look up in the database: letters, digits, ``_``, ``$``, ``#``.
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$#]{0,127}")
#: A job's ``outputData`` becomes part of an unquoted-style Oracle name, so it must start with a letter.
OUTPUT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_$#]{0,127}")


def anchored(pattern: re.Pattern[str]) -> str:
    """``pattern`` as an OpenAPI (ECMA-262) ``pattern`` string that matches exactly what
    ``pattern.fullmatch`` matches: anchored at both ends."""
    return f"^{pattern.pattern}$"


#: A task's id (issue 15): a UUID in lower case with hyphens.
TASK_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: A SHA-256 digest in hexadecimal (either case).
SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
