"""The web console's paths in the service document (issue 19): the page, its files and ``/``.

They answer without a token (the files hold no data) and send HTML, CSS or JavaScript, not JSON;
listed so that the document names every route the service answers.
"""

from __future__ import annotations

from typing import Any

from omlsvc.openapi.builders import operation, path_parameter

_ASSET_NAME = {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,100}$"}


def console_paths() -> dict[str, Any]:
    return {
        "/": {
            "get": operation(
                "root",
                "Sends a browser to the web console",
                {
                    "302": {
                        "description": "Found: the console is at /console.",
                        "headers": {"Location": {"schema": {"type": "string"}}},
                    }
                },
                (500,),
                public=True,
                tags=["console"],
            )
        },
        "/console": {
            "get": operation(
                "consolePage",
                "The web console (one HTML page; it signs in with the token endpoint)",
                {
                    "200": {
                        "description": "The page.",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    }
                },
                (500,),
                public=True,
                tags=["console"],
            )
        },
        "/console/assets/{name}": {
            "get": operation(
                "consoleAsset",
                "One of the console's script, style or image files",
                {
                    "200": {
                        "description": "The file (text/javascript, text/css, image/svg+xml or image/png).",
                        "content": {"*/*": {"schema": {"type": "string"}}},
                    },
                    "304": {"description": "Not modified: the browser's copy is current."},
                },
                (404, 500),
                parameters=[path_parameter("name", "A file name the console ships.", _ASSET_NAME)],
                public=True,
                tags=["console"],
            )
        },
    }
