"""``/omlmod/v1/models`` (spec section 4) and its grants (our extension): HTTP in and out, nothing else."""

from __future__ import annotations

from contextlib import ExitStack

import falcon

from omlsvc.core.errors import InvalidInput, PayloadTooLarge
from omlsvc.repository.form import parse_model_form
from omlsvc.repository.rows import ModelFilter
from omlsvc.repository.service import ModelService, Upload
from omlsvc.rest.model_views import grant_view, metadata_view, model_view
from omlsvc.rest.tasks import accepted
from omlsvc.rest.web import collection_links, link, paging, read_json_object, text_param
from omlsvc.tasks.service import TaskService

MODELS = "/omlmod/v1/models"
FORM_FIELDS = frozenset({"modelName", "modelType", "version", "description", "namespace", "shared"})
#: Room for the text fields and multipart framing on top of the file itself.
FORM_OVERHEAD_BYTES = 1024 * 1024
UPDATE_BODY_LIMIT = 64 * 1024
GRANT_BODY_LIMIT = 4 * 1024
IMPORT_BODY_LIMIT = 16 * 1024


def _model_links(req: falcon.Request, model_id: str) -> list[dict[str, str]]:
    return [link(req, f"{MODELS}/{model_id}")]


def model_filter(req: falcon.Request) -> ModelFilter:
    """The OML list filters (``modelName``, ``version``, ``namespace``), shared with deployments."""
    return ModelFilter(
        name=text_param(req, "modelName"),
        version=text_param(req, "version"),
        namespace=text_param(req, "namespace"),
    )


class ModelCollection:
    def __init__(self, models: ModelService, tasks: TaskService | None = None) -> None:
        """``tasks``: imports from a URL (a JSON body, issue 15)."""
        self._models = models
        self._tasks = tasks

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Store a model from Oracle's multipart form; the file is spooled, never held in memory.
        A JSON body (``sourceUrl`` and the form's fields) queues an import task instead (202)."""
        if self._tasks is not None and (req.content_type or "").lower().startswith(falcon.MEDIA_JSON):
            body = read_json_object(req, IMPORT_BODY_LIMIT)
            accepted(req, resp, self._tasks.submit_import(req.context.principal, body))
            return
        if not (req.content_type or "").lower().startswith("multipart/form-data"):
            raise falcon.HTTPUnsupportedMediaType(description="Upload models as multipart/form-data.")
        limit = self._models.archive_limits.max_archive_bytes
        if req.content_length is not None and req.content_length > limit + FORM_OVERHEAD_BYTES:
            raise PayloadTooLarge(
                f"The upload of {req.content_length} bytes is over the limit of {limit} bytes."
            )
        fields: dict[str, str | None] = {}
        upload: Upload | None = None
        with ExitStack() as cleanup:
            for part in req.get_media():
                if part.name == "modelData":
                    if upload is not None:
                        raise InvalidInput("Send exactly one modelData file.")
                    upload = self._models.receive_upload(part.stream, limit)
                    cleanup.callback(self._models.discard_upload, upload)
                elif part.name in FORM_FIELDS:
                    fields[part.name] = part.get_text()
                else:
                    part.stream.pipe()  # unknown parts are read past, not refused
            if upload is None:
                raise InvalidInput("modelData (the zipped ONNX model) is required.")
            record = self._models.store_model(req.context.principal, parse_model_form(fields), upload)
        resp.status = falcon.HTTP_201
        resp.location = f"{MODELS}/{record.id}"
        resp.media = {"modelId": record.id, "links": _model_links(req, record.id)}

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        offset, limit = paging(req)
        where = model_filter(req)
        principal = req.context.principal
        records, more = self._models.list_models(principal, where, offset, limit)
        resp.media = {
            "items": [
                {**model_view(r, self._models.users_of(principal, r)), "links": _model_links(req, r.id)}
                for r in records
            ],
            "links": collection_links(req, MODELS, offset=offset, limit=limit, more=more),
        }


class Model:
    def __init__(self, models: ModelService) -> None:
        self._models = models

    def on_get(self, req: falcon.Request, resp: falcon.Response, model_id: str) -> None:
        principal = req.context.principal
        record = self._models.get_model(principal, model_id)
        users = self._models.users_of(principal, record)
        resp.media = {**model_view(record, users), "links": _model_links(req, record.id)}

    def on_post(self, req: falcon.Request, resp: falcon.Response, model_id: str) -> None:
        changes = read_json_object(req, UPDATE_BODY_LIMIT)
        self._models.update_model(req.context.principal, model_id, changes)
        resp.status = falcon.HTTP_204

    def on_delete(self, req: falcon.Request, resp: falcon.Response, model_id: str) -> None:
        self._models.delete_model(req.context.principal, model_id)
        resp.status = falcon.HTTP_204


class ModelMetadata:
    def __init__(self, models: ModelService) -> None:
        self._models = models

    def on_get(self, req: falcon.Request, resp: falcon.Response, model_id: str) -> None:
        record = self._models.get_model(req.context.principal, model_id)
        resp.media = metadata_view(record.name, self._models.spec(record))


class ModelContent:
    def __init__(self, models: ModelService) -> None:
        self._models = models

    def on_get(self, req: falcon.Request, resp: falcon.Response, model_id: str) -> None:
        record, chunks = self._models.read_content(req.context.principal, model_id)
        resp.etag = record.sha256
        if req.if_none_match and any(tag == record.sha256 for tag in req.if_none_match):
            resp.status = falcon.HTTP_304
            return
        resp.content_type = "application/octet-stream"
        resp.downloadable_as = f"{record.name}-{record.version}.zip"
        resp.content_length = record.size_bytes
        resp.stream = chunks


class ModelGrants:
    """``/models/{modelId}/grants``: share a model with named users (owner or admin)."""

    def __init__(self, models: ModelService) -> None:
        self._models = models

    def on_get(self, req: falcon.Request, resp: falcon.Response, model_id: str) -> None:
        grants = self._models.list_grants(req.context.principal, model_id)
        resp.media = {
            "items": [grant_view(g) for g in grants],
            "links": [link(req, f"{MODELS}/{model_id}/grants")],
        }

    def on_post(self, req: falcon.Request, resp: falcon.Response, model_id: str) -> None:
        body = read_json_object(req, GRANT_BODY_LIMIT)
        grant, created = self._models.grant(req.context.principal, model_id, body)
        resp.status = falcon.HTTP_201 if created else falcon.HTTP_200
        resp.media = grant_view(grant)


class ModelGrant:
    """``/models/{modelId}/grants/{username}``: take a user's grant back."""

    def __init__(self, models: ModelService) -> None:
        self._models = models

    def on_delete(self, req: falcon.Request, resp: falcon.Response, model_id: str, username: str) -> None:
        self._models.revoke(req.context.principal, model_id, username)
        resp.status = falcon.HTTP_204
