"""Image preprocessing against an independent few-line numpy reference."""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageOps

from omlsvc.core.errors import InvalidImage, InvalidInput
from omlsvc.core.signature import ImageSpec
from omlsvc.scoring.images import ImageOptions, ImagePreprocessor, decode_base64
from tests.unit.scoring.builders import encode, gradient_image

NCHW = ("batch", "channel", "height", "width")
NHWC = ("batch", "height", "width", "channel")
MEAN = (123.68, 116.779, 103.939)
SCALE = (0.017, 0.0175, 0.0174)


def image_spec(**fields: object) -> ImageSpec:
    values: dict[str, object] = {
        "input_name": "input_1",
        "height": 24,
        "width": 32,
        "channel": 3,
        "mean": MEAN,
        "scale": SCALE,
    }
    values.update(fields)
    return ImageSpec(**values)  # type: ignore[arg-type]


def reference(image: Image.Image, spec: ImageSpec) -> np.ndarray:
    """The documented pipeline in a few lines: orient, convert, resize, normalise, reorder, cast."""
    image = ImageOps.exif_transpose(image)
    if image.mode == "P":
        image = image.convert("RGBA")
    image = image.convert("RGB" if spec.channel == 3 else "L")
    image = image.resize((spec.width, spec.height), Image.Resampling.BILINEAR)
    pixels = np.asarray(image, dtype=np.float32).reshape(spec.height, spec.width, spec.channel)
    mean = np.resize(np.asarray(spec.mean, np.float32), spec.channel)
    scale = np.resize(np.asarray(spec.scale, np.float32), spec.channel)
    pixels = (pixels - mean) * scale
    if spec.input_channel == "BGR":
        pixels = pixels[:, :, ::-1]
    axes = [("batch", "height", "width", "channel").index(name) for name in spec.dim_names]
    return pixels[np.newaxis].transpose(axes).astype(np.float32)


def open_bytes(data: bytes) -> Image.Image:
    import io

    return Image.open(io.BytesIO(data))


@pytest.mark.parametrize(
    ("dim_names", "input_channel"), [(NCHW, "RGB"), (NHWC, "BGR"), (NHWC, "RGB"), (NCHW, "BGR")]
)
def test_png_matches_reference_for_every_layout(dim_names: tuple[str, ...], input_channel: str) -> None:
    spec = image_spec(dim_names=dim_names, input_channel=input_channel)
    data = encode(gradient_image(50, 40), "PNG")

    result = ImagePreprocessor(spec).preprocess(data)

    expected = reference(open_bytes(data), spec)
    assert result.dtype == np.float32
    assert result.shape == expected.shape == ((1, 3, 24, 32) if dim_names == NCHW else (1, 24, 32, 3))
    np.testing.assert_array_equal(result, expected)
    assert result.flags.c_contiguous


def test_bgr_reverses_channels_after_rgb_ordered_normalisation() -> None:
    data = encode(gradient_image(32, 24), "PNG")
    rgb = ImagePreprocessor(image_spec(input_channel="RGB")).preprocess(data)
    bgr = ImagePreprocessor(image_spec(input_channel="BGR")).preprocess(data)
    np.testing.assert_array_equal(bgr, rgb[:, ::-1])
    red = np.asarray(open_bytes(data).convert("RGB"), np.float32)[:, :, 0]
    np.testing.assert_allclose(bgr[0, 2], (red - MEAN[0]) * SCALE[0], rtol=1e-6)


def test_divide_by_scale_switch() -> None:
    data = encode(gradient_image(32, 24), "PNG")
    spec = image_spec(scale=(2.0, 4.0, 8.0), mean=(0.0, 0.0, 0.0))
    divided = ImagePreprocessor(spec, ImageOptions(divide_by_scale=True)).preprocess(data)
    pixels = np.asarray(open_bytes(data).convert("RGB"), np.float32).transpose(2, 0, 1)
    np.testing.assert_allclose(divided[0], pixels / np.array([2.0, 4.0, 8.0], np.float32)[:, None, None])


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(orientation: int) -> None:
    picture = gradient_image(40, 20)
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(picture, "JPEG", quality=95, exif=exif.tobytes())
    spec = image_spec(height=12, width=12, mean=(0.0,), scale=(1.0,))

    result = ImagePreprocessor(spec).preprocess(data)

    np.testing.assert_array_equal(result, reference(open_bytes(data), spec))
    if orientation != 1:
        unrotated = encode(picture, "JPEG", quality=95)
        assert not np.array_equal(result, ImagePreprocessor(spec).preprocess(unrotated))


def test_orientation_that_swaps_axes_changes_the_aspect_before_resizing() -> None:
    # a wide picture stored with "rotate 90 CW" is tall once oriented: its left column becomes the top row
    picture = Image.new("RGB", (40, 20), (0, 0, 0))
    picture.paste((255, 255, 255), (0, 0, 4, 20))  # white stripe on the left
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(picture, "PNG", exif=exif.tobytes())
    spec = image_spec(height=40, width=20, mean=(0.0,), scale=(1.0,), channel=1)

    result = ImagePreprocessor(spec).preprocess(data)[0, 0]

    assert result[0].mean() > 200  # the stripe is now on top
    assert result[-1].mean() < 50


@pytest.mark.parametrize("mode", ["P", "RGBA", "LA", "L", "1", "CMYK", "I;16", "PA"])
@pytest.mark.parametrize("channel", [3, 1])
def test_modes_are_converted(mode: str, channel: int) -> None:
    picture = gradient_image(30, 20)
    if mode == "PA":
        picture = picture.convert("P").convert("PA")
        data = encode(picture.convert("RGBA"), "PNG")  # PNG cannot store PA; RGBA keeps the alpha path
    elif mode == "I;16":
        wide = np.asarray(picture.convert("L"), np.uint16) * 257
        data = encode(Image.fromarray(wide), "PNG")
    elif mode == "CMYK":
        data = encode(picture.convert("CMYK"), "JPEG", quality=95)
    else:
        data = encode(picture.convert(mode), "PNG" if mode != "CMYK" else "JPEG")
    spec = image_spec(channel=channel, mean=(10.0,) * channel, scale=(0.5,) * channel)
    opened = open_bytes(data)

    result = ImagePreprocessor(spec).preprocess(data)

    if mode == "I;16":
        eight_bit = Image.fromarray((np.asarray(opened, np.uint16) >> 8).astype(np.uint8), "L")
        expected = reference(eight_bit, spec)
    else:
        expected = reference(opened, spec)
    np.testing.assert_array_equal(result, expected)
    assert result.shape == (1, channel, 24, 32)


def test_palette_with_transparency_drops_alpha_without_warning() -> None:
    picture = Image.new("P", (20, 20), 0)
    picture.putpalette([200, 10, 10, 10, 200, 10] + [0] * 762)
    picture.paste(1, (0, 0, 10, 20))
    data = encode(picture, "PNG", transparency=0)  # index 0 (red) is transparent
    assert "transparency" in open_bytes(data).info
    spec = image_spec(height=20, width=20, mean=(0.0,), scale=(1.0,))

    result = ImagePreprocessor(spec).preprocess(data)

    # alpha dropped (OpenCV IMREAD_COLOR): the transparent pixels keep their palette colour
    assert result[0, :, 10, 15].tolist() == [200.0, 10.0, 10.0]
    assert result[0, :, 10, 2].tolist() == [10.0, 200.0, 10.0]


def test_rgba_drops_alpha() -> None:
    pixels = np.zeros((10, 10, 4), np.uint8)
    pixels[..., 0] = 100
    pixels[..., 3] = 0  # fully transparent
    data = encode(Image.fromarray(pixels, "RGBA"), "PNG")
    spec = image_spec(height=10, width=10, mean=(0.0,), scale=(1.0,))
    result = ImagePreprocessor(spec).preprocess(data)
    assert set(result[0, 0].ravel().tolist()) == {100.0}
    assert set(result[0, 1].ravel().tolist()) == {0.0}


@pytest.mark.parametrize("fmt", ["BMP", "PPM", "TIFF", "GIF", "WEBP", "JPEG2000"])
def test_other_documented_formats_decode(fmt: str) -> None:
    params = {"lossless": True} if fmt == "WEBP" else {}
    data = encode(gradient_image(32, 24), fmt, **params)
    result = ImagePreprocessor(image_spec()).preprocess(data)
    np.testing.assert_array_equal(result, reference(open_bytes(data), image_spec()))


def test_formats_outside_the_list_are_refused() -> None:
    data = encode(gradient_image(32, 32), "ICO")
    with pytest.raises(InvalidImage, match="not a supported image file"):
        ImagePreprocessor(image_spec()).preprocess(data)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_jpeg_draft_is_close_to_a_full_decode(orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(gradient_image(1003, 757), "JPEG", quality=95, exif=exif.tobytes())
    spec = image_spec(height=48, width=64, mean=(0.0,), scale=(1.0,))

    full = ImagePreprocessor(spec, ImageOptions(jpeg_draft=False)).preprocess(data)
    drafted = ImagePreprocessor(spec).preprocess(data)

    np.testing.assert_array_equal(full, reference(open_bytes(data), spec))
    assert not np.array_equal(full, drafted)  # draft mode really was used
    # close enough for a classifier, and the crop box follows the orientation (a box left at the
    # wrong edge shifts the picture by a fraction of a pixel: mean error > 0.5 on this picture)
    assert np.abs(full - drafted).mean() < 0.3
    assert np.abs(full - drafted).max() <= 2


def test_element_types_are_cast() -> None:
    data = encode(gradient_image(32, 24), "PNG")
    as_uint8 = ImagePreprocessor(image_spec(element_type="UINT8", mean=(0.0,), scale=(1.0,))).preprocess(data)
    assert as_uint8.dtype == np.uint8
    np.testing.assert_array_equal(
        as_uint8, reference(open_bytes(data), image_spec(mean=(0.0,), scale=(1.0,)))
    )
    clipped = ImagePreprocessor(image_spec(element_type="UINT8", mean=(0.0,), scale=(2.0,))).preprocess(data)
    assert clipped.max() == 255
    assert ImagePreprocessor(image_spec(element_type="FLOAT16")).preprocess(data).dtype == np.float16
    assert ImagePreprocessor(image_spec(element_type="DOUBLE")).preprocess(data).dtype == np.float64


# -- refusals ------------------------------------------------------------------------------------


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a huge size but holds almost nothing (a decompression-bomb probe)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("size", [(7000, 7000), (10_000, 10_000), (20_000, 20_000)])
def test_decompression_bombs_are_refused_before_decoding(size: tuple[int, int]) -> None:
    # 49 MP is over our 40 MP default; 100 MP also trips Pillow's warning; 400 MP Pillow's own error
    with pytest.raises(InvalidImage, match="pixels"):
        ImagePreprocessor(image_spec()).preprocess(png_header_only(*size))


def test_pixel_limit_is_configurable() -> None:
    data = encode(gradient_image(30, 30), "PNG")
    with pytest.raises(InvalidImage, match="900 pixels, over the limit of 899"):
        ImagePreprocessor(image_spec(), ImageOptions(max_pixels=899)).preprocess(data)
    ImagePreprocessor(image_spec(), ImageOptions(max_pixels=900)).preprocess(data)


@pytest.mark.parametrize("draft", [True, False])
def test_truncated_jpeg_is_invalid_image(draft: bool) -> None:
    data = encode(gradient_image(400, 300), "JPEG")
    with pytest.raises(InvalidImage, match="truncated or corrupt"):
        ImagePreprocessor(image_spec(), ImageOptions(jpeg_draft=draft)).preprocess(data[: len(data) // 2])
    with pytest.raises(InvalidImage, match="not a supported image file"):
        ImagePreprocessor(image_spec()).preprocess(data[:300])  # cut inside the header


def test_truncated_png_is_invalid_image() -> None:
    data = encode(gradient_image(64, 64), "PNG")
    with pytest.raises(InvalidImage, match="truncated or corrupt"):
        ImagePreprocessor(image_spec()).preprocess(data[: len(data) - 200])


@pytest.mark.parametrize(
    "data", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n garbage", b"%!PS-Adobe-3.0 EPSF"]
)
def test_non_image_bytes_are_invalid_image(data: bytes) -> None:
    with pytest.raises(InvalidImage) as caught:
        ImagePreprocessor(image_spec()).preprocess(data)
    assert isinstance(caught.value, InvalidInput)


def test_base64_variants() -> None:
    data = encode(gradient_image(8, 8), "PNG")
    plain = base64.b64encode(data).decode()
    assert decode_base64(plain) == data
    assert decode_base64(base64.encodebytes(data).decode()) == data  # wrapped at 76 columns
    assert decode_base64("data:image/png;base64," + plain) == data
    assert decode_base64(base64.urlsafe_b64encode(data).decode().rstrip("=")) == data


@pytest.mark.parametrize("text", ["not base64!", "abc$", "data:image/png,rawbytes", "", "===="])
def test_bad_base64_is_invalid_image(text: str) -> None:
    with pytest.raises(InvalidImage):
        decode_base64(text)


def test_from_base64_preprocesses() -> None:
    data = encode(gradient_image(32, 24), "PNG")
    spec = image_spec()
    np.testing.assert_array_equal(
        ImagePreprocessor(spec).from_base64(base64.b64encode(data).decode()),
        reference(open_bytes(data), spec),
    )
