"""Image preprocessing options of metadata.json (issue 16), through the HTTP API on SQLite and PostgreSQL.

The model under test is the identity: an ``ONNX_IMG`` feature extractor whose output is its input, so
the ``doubleWeights`` of a score are exactly the preprocessed pixels. Each is compared with a reference
written here from the documented meaning of each option with plain Pillow and numpy calls (resize the
whole image, then crop or paste; torchvision's ``Resize(N)`` + ``CenterCrop`` arithmetic), for a portrait
and a landscape photo, and for a one-channel model.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from PIL import Image

from tests import modelzoo
from tests.api.conftest import Caller
from tests.api.forms import store_model, upload_model

DEPLOYMENTS = "/omlmod/v1/deployment"
#: Preprocessing does not touch the database: these run on SQLite only (the stored and deployed
#: model rows are covered on both databases by the mean-file and document tests).
sqlite_only = pytest.mark.parametrize("database", ["sqlite"], indirect=True)
HEIGHT, WIDTH = 10, 12
PORTRAIT, LANDSCAPE = (23, 41), (45, 19)  # (width, height)
FILTERS = {
    "BILINEAR": Image.Resampling.BILINEAR,
    "BICUBIC": Image.Resampling.BICUBIC,
    "LANCZOS": Image.Resampling.LANCZOS,
    "NEAREST": Image.Resampling.NEAREST,
}


def identity_model(channels: int, layout: str = "NCHW") -> onnx.ModelProto:
    """``image`` in, the same values out as ``pixels`` (a feature extractor that returns its input)."""
    shape = [None, channels, HEIGHT, WIDTH] if layout == "NCHW" else [None, HEIGHT, WIDTH, channels]
    graph = helper.make_graph(
        [helper.make_node("Identity", ["image"], ["pixels"])],
        "identity",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, shape)],
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", modelzoo.OPSET)], ir_version=modelzoo.IR_VERSION
    )


def photo(size: tuple[int, int], mode: str = "RGB") -> bytes:
    rng = np.random.default_rng(size[0] * 100 + size[1])
    channels = 3 if mode == "RGB" else 1
    pixels = rng.integers(0, 256, size=(size[1], size[0], channels), dtype=np.uint8)
    image = Image.fromarray(pixels if channels == 3 else pixels[:, :, 0], mode)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def reference(data: bytes, options: dict[str, Any], mean_array: np.ndarray | None = None) -> np.ndarray:
    """The documented pipeline, written out: H x W x C float32, before the axis layout."""
    channels = 1 if options.get("inputChannel") == "L" or options.get("channel") == 1 else 3
    image = Image.open(io.BytesIO(data)).convert("L" if channels == 1 else "RGB")
    resample = FILTERS[options.get("resizeFilter", "BILINEAR")]
    mode = options.get("resizeType", "SQUASH")
    w, h = image.size
    if mode == "SQUASH":
        image = image.resize((WIDTH, HEIGHT), resample)
    elif mode == "CROP":  # cover: the larger scale, then the centre
        s = max(WIDTH / w, HEIGHT / h)
        rw, rh = max(WIDTH, round(w * s)), max(HEIGHT, round(h * s))
        image = image.resize((rw, rh), resample)
        left, top = round((rw - WIDTH) / 2), round((rh - HEIGHT) / 2)
        image = image.crop((left, top, left + WIDTH, top + HEIGHT))
    elif mode == "FILL":  # fit: the smaller scale, then pad around
        s = min(WIDTH / w, HEIGHT / h)
        rw, rh = min(WIDTH, max(1, round(w * s))), min(HEIGHT, max(1, round(h * s)))
        colour = options.get("fillColor", [255] * channels)
        canvas = Image.new(image.mode, (WIDTH, HEIGHT), tuple(colour) if channels == 3 else colour[0])
        canvas.paste(image.resize((rw, rh), resample), ((WIDTH - rw) // 2, (HEIGHT - rh) // 2))
        image = canvas
    else:  # SHORTER_SIDE, as torchvision's Resize(N) then CenterCrop((H, W))
        n = options["cropSize"]
        rw, rh = (n, int(n * h / w)) if w <= h else (int(n * w / h), n)
        image = image.resize((rw, rh), resample)
        left, top = round((rw - WIDTH) / 2.0), round((rh - HEIGHT) / 2.0)
        image = image.crop((left, top, left + WIDTH, top + HEIGHT))
    pixels = np.asarray(image, dtype=np.float32).reshape(HEIGHT, WIDTH, channels)
    if "pixelScaling" in options:
        pixels = pixels * np.float32(options["pixelScaling"] / 255.0)
    mean = (
        mean_array
        if mean_array is not None
        else np.asarray(options.get("mean", [0.0] * channels), np.float32)
    )
    pixels = (pixels - mean) * np.asarray(options.get("scale", [1.0] * channels), np.float32)
    if options.get("inputChannel") == "BGR":
        pixels = pixels[:, :, ::-1]
    return pixels


def deploy_identity(
    caller: Caller,
    tmp_path: Path,
    uri: str,
    options: dict[str, Any],
    *,
    channels: int = 3,
    layout: str = "NCHW",
    extra_files: dict[str, bytes] | None = None,
) -> None:
    metadata = {"function": "feature_extraction", **options}
    zoo = modelzoo.zip_package(
        tmp_path, uri, identity_model(channels, layout), metadata, extra_files=extra_files
    )
    model_id = store_model(caller, zoo.zip_path, name=uri, model_type="ONNX_IMG")
    deployed = caller.post(DEPLOYMENTS, json={"modelId": model_id, "uri": uri})
    assert deployed.status_code == 201, deployed.text


def scored_pixels(caller: Caller, uri: str, images: list[bytes], layout: str = "NCHW") -> list[np.ndarray]:
    """The preprocessed images as the service fed them to the model, back in H x W x C."""
    body = {"inputRecords": [{"image": base64.b64encode(image).decode()} for image in images]}
    result = caller.post(f"{DEPLOYMENTS}/{uri}/score", json=body)
    assert result.status_code == 200, result.text
    rows = [np.asarray(r["doubleWeights"], np.float32) for r in result.json["scoringResults"]]
    if layout == "NCHW":
        return [row.reshape(-1, HEIGHT, WIDTH).transpose(1, 2, 0) for row in rows]
    return [row.reshape(HEIGHT, WIDTH, -1) for row in rows]


MODES: list[dict[str, Any]] = [
    {},  # the OML behaviour: SQUASH, BILINEAR
    {"resizeType": "CROP"},
    {"resizeType": "FILL"},
    {"resizeType": "FILL", "fillColor": [10, 200, 30], "resizeFilter": "NEAREST"},
    {"resizeType": "SHORTER_SIDE", "cropSize": 16, "resizeFilter": "BICUBIC"},
    {"resizeType": "crop", "resizeFilter": "LANCZOS", "pixelScaling": 1.0, "mean": [0.485, 0.456, 0.406]},
    {"resizeType": "SQUASH", "pixelScaling": 2.0, "scale": [0.5, 1.0, 2.0], "inputChannel": "BGR"},
]


@sqlite_only
@pytest.mark.parametrize("options", MODES, ids=lambda o: json.dumps(o, sort_keys=True))
def test_each_resize_mode_equals_the_reference_for_portrait_and_landscape(
    alice: Caller, tmp_path: Path, options: dict[str, Any]
) -> None:
    deploy_identity(alice, tmp_path, "identity", options)
    images = [photo(PORTRAIT), photo(LANDSCAPE)]

    got = scored_pixels(alice, "identity", images)

    for pixels, image in zip(got, images, strict=True):
        expected = reference(image, {k: (v.upper() if k == "resizeType" else v) for k, v in options.items()})
        np.testing.assert_allclose(pixels, expected, atol=1e-5, rtol=1e-6)


@sqlite_only
@pytest.mark.parametrize("mode", ["SQUASH", "CROP", "FILL", "SHORTER_SIDE"])
def test_a_one_channel_model_takes_grey_pixels_in_each_mode(alice: Caller, tmp_path: Path, mode: str) -> None:
    options: dict[str, Any] = {"inputChannel": "L", "resizeType": mode, "dimensionOrder": "NHWC"}
    if mode == "SHORTER_SIDE":
        options["cropSize"] = 13
    if mode == "FILL":
        options["fillColor"] = 40
    deploy_identity(alice, tmp_path, "grey", options, channels=1, layout="NHWC")
    images = [photo(PORTRAIT), photo(LANDSCAPE, "L")]

    got = scored_pixels(alice, "grey", images, layout="NHWC")

    for pixels, image in zip(got, images, strict=True):
        reference_options = {**options, "fillColor": [40]} if mode == "FILL" else options
        np.testing.assert_allclose(pixels, reference(image, reference_options), atol=1e-5)


@pytest.mark.parametrize("shape", [(3,), (HEIGHT, WIDTH, 3)])
def test_a_mean_file_is_subtracted_instead_of_mean(
    alice: Caller, tmp_path: Path, shape: tuple[int, ...]
) -> None:
    mean = np.random.default_rng(5).uniform(0, 255, size=shape).astype(np.float32)
    buffer = io.BytesIO()
    np.save(buffer, mean)
    options = {"meanFile": "mean/imagenet.npy", "scale": [0.1, 0.2, 0.3]}
    deploy_identity(alice, tmp_path, "meaned", options, extra_files={"mean/imagenet.npy": buffer.getvalue()})
    image = photo(LANDSCAPE)

    (pixels,) = scored_pixels(alice, "meaned", [image])

    np.testing.assert_allclose(pixels, reference(image, options, mean), atol=1e-4)
    document = alice.get(f"{DEPLOYMENTS}/meaned/api").json
    assert "mean/imagenet.npy" in document["paths"][f"{DEPLOYMENTS}/meaned/score"]["post"]["description"]


def test_the_deployment_document_shows_the_options(alice: Caller, tmp_path: Path) -> None:
    options = {"resizeType": "SHORTER_SIDE", "cropSize": 16, "resizeFilter": "BICUBIC", "pixelScaling": 1.0}
    deploy_identity(alice, tmp_path, "documented", options)

    document = alice.get(f"{DEPLOYMENTS}/documented/api").json

    text = document["paths"][f"{DEPLOYMENTS}/documented/score"]["post"]["description"]
    assert "SHORTER_SIDE" in text and "shorter side is 16" in text
    assert "BICUBIC" in text and "[0, 1]" in text
    options = document["paths"][f"{DEPLOYMENTS}/documented/score"]["post"]["x-omlsvc-image-preprocessing"]
    assert options["resizeType"] == "SHORTER_SIDE" and options["cropSize"] == 16
    assert options["pixelScaling"] == 1.0 and options["resizeFilter"] == "BICUBIC"


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


BAD_OPTIONS: list[tuple[dict[str, Any], dict[str, bytes], list[str]]] = [
    ({"resizeType": "STRETCH"}, {}, ["'resizeType' must be one of"]),
    ({"resizeFilter": "BOX"}, {}, ["'resizeFilter' must be one of"]),
    ({"resizeType": "SHORTER_SIDE"}, {}, ["'cropSize' is required"]),
    ({"resizeType": "SHORTER_SIDE", "cropSize": 8}, {}, ["'cropSize' is 8", "larger than the image"]),
    ({"meanFile": "absent.npy"}, {}, ["'meanFile': 'absent.npy' is not in the archive"]),
    (
        {"meanFile": "m.npy"},
        {"m.npy": _npy(np.zeros((4, 4, 3)))},
        ["'meanFile' 'm.npy' holds an array of shape"],
    ),
    ({"meanFile": "m.npy"}, {"m.npy": b"not numpy"}, ["'meanFile': 'm.npy' is not a .npy array"]),
    ({"meanFile": "m.npy", "mean": [1, 2, 3]}, {"m.npy": _npy(np.zeros(3))}, ["cannot both be given"]),
    ({"pixelScaling": -1}, {}, ["'pixelScaling' must be a number above 0"]),
    ({"fillColor": [1, 2]}, {}, ["'fillColor' must be one 0-255 value"]),
    ({"inputChannel": "L"}, {}, ["has 3 on its channel axis", "channel is 1"]),
    ({"dimensionOrder": "NCWH"}, {}, ["'dimensionOrder' must be NCHW or NHWC"]),
    (
        {"dimensionOrder": "NHWC", "inputTensorDimNames": ["batch", "channel", "height", "width"]},
        {},
        ["disagrees"],
    ),
]


@sqlite_only
@pytest.mark.parametrize(
    ("options", "files", "says"), BAD_OPTIONS, ids=[json.dumps(options)[:60] for options, _, _ in BAD_OPTIONS]
)
def test_every_bad_option_is_a_400_naming_the_field(
    alice: Caller, tmp_path: Path, options: dict[str, Any], files: dict[str, bytes], says: list[str]
) -> None:
    zoo = modelzoo.zip_package(
        tmp_path, "bad", identity_model(3), {"function": "feature_extraction", **options}, extra_files=files
    )

    result = upload_model(alice, zoo.zip_path, name="bad", model_type="ONNX_IMG")

    assert result.status_code == 400, result.text
    details = " ".join(result.json.get("details", [])) + result.json["message"]
    for text in says:
        assert text in details, details


def test_several_bad_options_are_listed_together(alice: Caller, tmp_path: Path) -> None:
    options = {"resizeType": "SHORTER_SIDE", "cropSize": 5, "meanFile": "gone.npy", "resizeFilter": "X"}
    zoo = modelzoo.zip_package(
        tmp_path, "bad", identity_model(3), {"function": "feature_extraction", **options}
    )

    result = upload_model(alice, zoo.zip_path, name="bad", model_type="ONNX_IMG")

    assert result.status_code == 400
    details = " ".join(result.json["details"])
    assert "'resizeFilter'" in details and "'meanFile'" in details
