"""The HTTP floor: what any Python server on these gunicorn settings costs before it does any work.

A bare Falcon app that reads the body, parses it as JSON (orjson, as omlsvc does) and answers a
constant. Served by gunicorn with omlsvc's worker settings (gthread, the same workers and threads,
``SO_REUSEPORT``, keep-alive 5 s) by :mod:`bench.side_by_side`.
"""

from __future__ import annotations

import falcon
import orjson

ANSWER = orjson.dumps({"scoringResults": [{"classifications": [{"label": "gold", "probability": 1.0}]}]})


class Score:
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        orjson.loads(req.bounded_stream.read())
        resp.data = ANSWER
        resp.content_type = falcon.MEDIA_JSON

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.data = b"{}"


app = falcon.App()
app.add_route("/score", Score())
