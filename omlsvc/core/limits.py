"""Limits on what a client may ask for, shared by the services that enforce them and the OpenAPI
documents that declare them."""

from __future__ import annotations

#: Paging of the model and deployment lists (our extension): the largest page.
MAX_PAGE_SIZE = 1000
#: The largest ``offset``: a larger one than the databases' integers hold would fail in the driver,
#: so it is refused like any other bad parameter.
MAX_OFFSET = 2**31 - 1
#: The longest time limit a deployment may set for its model runs (``scoreTimeout``), in seconds.
MAX_SCORE_TIMEOUT_S = 3600
#: The longest model ``description``, in characters.
MAX_DESCRIPTION = 4000
#: The longest tensor name a request may give (``outputTensors``, ``outputTensor``; issue 16).
MAX_TENSOR_NAME = 1024
#: How many tensors one score request may ask for (``outputTensors``; issue 16).
MAX_OUTPUT_TENSORS = 64
#: The largest ``meanFile`` (bytes of ``.npy``) an image model may carry (issue 16): 64 MiB holds a
#: float32 mean of 2048 x 2048 x 3 plus its header.
MAX_MEAN_FILE_BYTES = 64 * 1024 * 1024
#: Issue 16, images by reference: the property of an image record value that names its file by URL,
#: the longest such URL (as a URL import's) and the default number one score request may name.
IMAGE_URL_FIELD = "imageUrl"
MAX_IMAGE_URL_LENGTH = 2048
DEFAULT_MAX_IMAGE_URLS = 16
