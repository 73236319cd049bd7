"""``POST /omlmod/v1/deployment/{uri}/score`` (spec section 5.6): JSON records or one uploaded image."""

from __future__ import annotations

import falcon

from omlsvc.core.errors import InvalidInput, PayloadTooLarge, ResponseTooLarge
from omlsvc.rest.web import arrival_of, parse_json, read_json_object, render_json
from omlsvc.scoring.scorer import DEFAULT_MAX_RESPONSE_BYTES
from omlsvc.scoring.service import Scored, ScoredTensors, ScoringService, parse_top_n
from omlsvc.scoring.tensors import parse_tensor_names

IMAGE_FIELD = "imageData"
#: Multipart field naming tensors to answer instead of ``scoringResults`` (issue 16).
TENSORS_FIELD = "outputTensors"
BLOCK_BYTES = 1024 * 1024
#: Sends every request carrying the same value to the same model of a deployment with a canary.
ROUTE_KEY_HEADER = "X-Omlsvc-Route-Key"
MAX_ROUTE_KEY = 200
#: On every score answer: the model (main or canary) that computed all of it.
MODEL_ID_HEADER = "X-Omlsvc-Model-Id"
#: RFC 9111's ``Warning`` (code 299, persistent): what a score request asked for and did not get.
WARNING_HEADER = "Warning"


class Score:
    def __init__(
        self,
        scoring: ScoringService,
        max_request_bytes: int,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self._scoring = scoring
        self._limit = max_request_bytes
        self._response_limit = max_response_bytes

    def on_post(self, req: falcon.Request, resp: falcon.Response, uri: str) -> None:
        principal = req.context.principal
        route_key = _route_key(req)
        scored: Scored | ScoredTensors
        if (req.content_type or "").lower().startswith("multipart/form-data"):
            images, top_n, tensors = self._read_image_form(req)
            scored = self._scoring.scored_images(
                principal,
                uri,
                images,
                top_n,
                route_key=route_key,
                output_tensors=tensors,
                arrived_at=arrival_of(req),
            )
        else:
            body = read_json_object(req, self._limit)
            scored = self._scoring.scored_records(
                principal, uri, body, route_key=route_key, arrived_at=arrival_of(req)
            )
        answer = (
            {"scoringResults": scored.results} if isinstance(scored, Scored) else {"tensors": scored.tensors}
        )
        data = render_json(answer)
        if len(data) > self._response_limit:
            raise ResponseTooLarge(
                f"The answer is {len(data)} bytes, over the response limit of {self._response_limit} bytes "
                "(OMLSVC_MAX_RESPONSE_BYTES); send fewer rows or use topN."
            )
        resp.content_type = falcon.MEDIA_JSON
        resp.set_header(MODEL_ID_HEADER, scored.model_id)
        if scored.warnings:  # issue 17: e.g. topNdetails, which ONNX models do not support
            resp.set_header(WARNING_HEADER, ", ".join(f'299 omlsvc "{text}"' for text in scored.warnings))
        resp.data = data

    def _read_image_form(self, req: falcon.Request) -> tuple[list[bytes], int | None, tuple[str, ...] | None]:
        if req.content_length is not None and req.content_length > self._limit:
            raise PayloadTooLarge(
                f"The request body of {req.content_length} bytes is over the limit of {self._limit} bytes."
            )
        image: bytes | None = None
        top_n = parse_top_n(req.get_param("topN"))
        tensors: list[str] | None = None
        for part in req.get_media():
            if part.name == IMAGE_FIELD:
                if image is not None:
                    raise InvalidInput(
                        "Send one image per multipart request; use JSON base64 records for batches."
                    )
                image = _read_limited(part.stream, self._limit)
            elif part.name == "topN":
                top_n = parse_top_n(part.get_text())
            elif part.name == TENSORS_FIELD:
                tensors = (tensors or []) + _tensor_names(part.get_text() or "")
            else:
                part.stream.pipe()
        if image is None:
            raise InvalidInput(f"The multipart form needs the image file in {IMAGE_FIELD!r}.")
        return [image], top_n, None if tensors is None else parse_tensor_names(tensors)


def _tensor_names(text: str) -> list[str]:
    """One ``outputTensors`` form field: a JSON array of names, or one name (the field may repeat)."""
    if not text.lstrip().startswith("["):
        return [text]
    try:
        names = parse_json(text.encode("utf-8"))
    except InvalidInput:
        raise InvalidInput(
            f"{TENSORS_FIELD} must be a JSON array of tensor names, or one name per field."
        ) from None
    if not isinstance(names, list):
        raise InvalidInput(f"{TENSORS_FIELD} must be a JSON array of tensor names, or one name per field.")
    return names


def _route_key(req: falcon.Request) -> str | None:
    key = req.get_header(ROUTE_KEY_HEADER)
    if key is None:
        return None
    if not 0 < len(key) <= MAX_ROUTE_KEY or not key.isprintable():
        raise InvalidInput(f"{ROUTE_KEY_HEADER} must be 1 to {MAX_ROUTE_KEY} printable characters.")
    return key


def _read_limited(stream: object, limit: int) -> bytes:
    blocks: list[bytes] = []
    size = 0
    while block := stream.read(BLOCK_BYTES):  # type: ignore[attr-defined]
        size += len(block)
        if size > limit:
            raise PayloadTooLarge(f"imageData is over the limit of {limit} bytes.")
        blocks.append(block)
    return b"".join(blocks)


class Tensors:
    """``GET .../deployment/{uri}/tensors`` (issue 16): the values of the deployed model's graph a
    score may ask for by name (``outputTensors``), with the types and shapes shape inference knows."""

    def __init__(self, scoring: ScoringService) -> None:
        self._scoring = scoring

    def on_get(self, req: falcon.Request, resp: falcon.Response, uri: str) -> None:
        listing = self._scoring.list_tensors(req.context.principal, uri)
        resp.media = {"tensors": [tensor.as_json() for tensor in listing.tensors]}
