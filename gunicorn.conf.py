"""gunicorn settings for running from a checkout: ``gunicorn -c gunicorn.conf.py omlsvc.wsgi:app``.

The settings live in the package (``omlsvc/gunicorn_conf.py``) so that an installed omlsvc serves
the same way; see that module for what they are and why.
"""

from omlsvc.gunicorn_conf import *  # noqa: F403
from omlsvc.gunicorn_conf import post_fork, post_request, pre_fork  # noqa: F401
