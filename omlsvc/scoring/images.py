"""Image file bytes -> one preprocessed model input row (ARCHITECTURE "Image preprocessing").

The pipeline, in order:

1. **Decode** with Pillow, restricted to the formats OML documents (the OpenCV ``imread`` set) plus
   GIF and WebP. Restricting formats keeps plugins such as EPS (which shells out to Ghostscript) out
   of reach of client bytes.
2. **Refuse decompression bombs** by checking ``width * height`` from the header against
   :attr:`ImageOptions.max_pixels` *before* anything is decoded. Pillow's own process-wide
   ``Image.MAX_IMAGE_PIXELS`` is left alone; its ``DecompressionBombError`` (a plain ``Exception``)
   and ``DecompressionBombWarning`` (an exception where warnings are errors) are also mapped to
   :class:`~omlsvc.core.errors.InvalidImage`. ``ImageFile.LOAD_TRUNCATED_IMAGES`` is never enabled, so a
   truncated file fails at ``load()``.
3. **JPEG draft mode**: for a JPEG at least four times the target size both ways, libjpeg decodes
   at 1/2, 1/4 or 1/8 scale but never below twice the target (the reducing gap ``Image.thumbnail``
   uses), and the resize crops the partial edge pixel draft mode adds. A 6 MP photo for a 224 x 224
   model then decodes in about 40% of the time (entropy decoding is not reduced), and much less
   memory. The price: libjpeg's DCT scaling averages blocks, so the final bilinear resize starts
   from slightly different pixels than a full decode; on our test pictures results differ by at most
   two grey levels of 255. ``ImageOptions(jpeg_draft=False)`` gives bit-exact agreement with a full
   decode instead.
4. **EXIF orientation** is applied (``ImageOps.exif_transpose``), only when the tag says so.
5. **Mode conversion** to ``RGB`` (``L`` when the model wants one channel). Alpha is *dropped*, not
   composited: this is what OpenCV's ``IMREAD_COLOR`` does, and OML documents the OpenCV decoder.
   Palette images use their palette colours, CMYK goes through Pillow's conversion, 16-bit and 32-bit
   integer images are scaled to 8 bits by ``>> 8`` (OpenCV's rule; Pillow's own conversion would clip),
   and 32-bit float images are clipped to 0..255.
6. **Bilinear resize** to ``width`` x ``height`` (Pillow's filter, which antialiases when shrinking;
   OpenCV's ``INTER_LINEAR`` does not, so results differ slightly from Oracle's service on large
   reductions).
7. **Normalise** in float32 as ``(pixel - mean[c]) * scale[c]`` with ``mean``/``scale`` in RGB order
   (``/ scale[c]`` with ``ImageOptions(divide_by_scale=True)``, the alternative reading of the spec).
8. **Channel order** per ``input_channel`` (``BGR`` reverses), **axes** per ``dim_names``.
9. **Cast** to the input's element type (integer types are rounded and clipped to their range).

Every preprocessed image is returned as a ``[1, ...]`` array so a batch is one ``np.concatenate``.
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageOps

from omlsvc.core.errors import InvalidImage, PayloadTooLarge, ScoringFailed
from omlsvc.core.limits import MAX_MEAN_FILE_BYTES
from omlsvc.core.signature import ImageSpec
from omlsvc.scoring.image_spec import (
    SOURCE_AXES,
    cast_pixels,
    checked_dtype,
    checked_mean,
    fill_color,
    per_channel,
    resize_mode,
    resized_size,
)
from omlsvc.scoring.image_urls import ImageUrls

#: 40 megapixels: a large phone photo is 12-50 MP; the RGB decode of 40 MP takes 120 MB.
DEFAULT_MAX_IMAGE_PIXELS = 40_000_000
#: The largest resize target (height x width) a model may ask for: 4096 x 4096. Its float32 RGB
#: tensor is 200 MB per image; a model claiming 8192 x 8192 made one 4 x 4 PNG cost 7.6 GB.
DEFAULT_MAX_TARGET_PIXELS = 4096 * 4096
#: Pixels one request may make us decode and produce, summed over its images (each image counts its
#: own size plus the model's target size).
DEFAULT_MAX_REQUEST_PIXELS = 64 * 1024 * 1024

#: Pillow format names for the OML-documented set (.bmp .pbm .pgm .ppm .sr .ras .jpeg .jpg .jpe .jp2
#: .tiff .tif .png) plus GIF and WebP.
DEFAULT_IMAGE_FORMATS = ("JPEG", "PNG", "BMP", "PPM", "SUN", "TIFF", "JPEG2000", "GIF", "WEBP")

#: how much larger than the target a JPEG draft decode stays (as ``Image.thumbnail``'s reducing_gap).
JPEG_DRAFT_GAP = 2

_DRAFT_FORMATS = frozenset({"JPEG", "MPO"})
#: EXIF orientations that need a transpose (ImageOps.exif_transpose's table) and those that swap axes.
_TRANSPOSE_METHODS = frozenset({2, 3, 4, 5, 6, 7, 8})
_TRANSPOSING = frozenset({5, 6, 7, 8})
#: orientation -> (axes swapped, partial column ends up on the left, partial row ends up on top).
_PARTIAL_EDGE = {
    2: (False, True, False),
    3: (False, True, True),
    4: (False, False, True),
    5: (True, False, False),
    6: (True, True, False),
    7: (True, True, True),
    8: (True, False, True),
}
_ORIENTATION_TAG = ExifTags.Base.Orientation


@dataclass(frozen=True)
class ImageOptions:
    """Deployment-wide knobs of the image pipeline (the per-model ones live in :class:`ImageSpec`)."""

    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    max_target_pixels: int = DEFAULT_MAX_TARGET_PIXELS
    max_request_pixels: int = DEFAULT_MAX_REQUEST_PIXELS
    jpeg_draft: bool = True
    divide_by_scale: bool = False
    formats: tuple[str, ...] = DEFAULT_IMAGE_FORMATS
    #: issue 16: whether JSON records may name their image by ``imageUrl`` (default: no fetcher, never).
    urls: ImageUrls = field(default_factory=ImageUrls)


class PixelBudget:
    """The pixels one request may still decode and produce (:attr:`ImageOptions.max_request_pixels`).

    Not thread-safe: one per request.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.spent = 0

    def spend(self, pixels: int) -> None:
        self.spent += pixels
        if self.spent > self.limit:
            raise PayloadTooLarge(
                f"the images of this request come to more than {self.limit} pixels (their own sizes plus "
                "the model's input size each; OMLSVC_MAX_REQUEST_PIXELS): send fewer or smaller images"
            )


class ImagePreprocessor:
    """Turns image files into rows of one image model's input; built once per model.

    Everything derived from the :class:`ImageSpec` (dtype, axis permutation, normalisation vectors)
    is computed here, so :meth:`preprocess` does only per-image work. Thread-safe: it holds no
    mutable state.
    """

    def __init__(
        self, spec: ImageSpec, options: ImageOptions | None = None, mean_array: np.ndarray | None = None
    ) -> None:
        """``mean_array`` is the content of the spec's ``mean_file`` (H x W x C or C, RGB order), read
        by the caller from the model's files; it replaces ``mean``."""
        self.spec = spec
        self.options = options or ImageOptions()
        self.dtype = checked_dtype(spec, self.options.max_target_pixels)
        self._mode = "RGB" if spec.channel == 3 else "L"
        self._mean = per_channel(spec.mean, spec.channel, 0.0, "mean", spec.input_name)
        if spec.mean_file is not None:
            self._mean = checked_mean(mean_array, spec)
        self._resize_type, self._filter = resize_mode(spec)
        self._fill = fill_color(spec.fill_color, spec.channel)
        #: pixels * this before the mean is subtracted (pixelScaling / 255), or None.
        self._pixel_factor = None if spec.pixel_scaling is None else np.float32(spec.pixel_scaling / 255.0)
        scale = per_channel(spec.scale, spec.channel, 1.0, "scale", spec.input_name)
        if self.options.divide_by_scale:
            if np.any(scale == 0):
                raise ScoringFailed(f"image input {spec.input_name!r}: scale has a zero entry")
            scale = (1.0 / scale).astype(np.float32)
        self._scale = scale
        self._identity_norm = bool(
            np.all(self._mean == 0) and np.all(self._scale == 1) and self._pixel_factor is None
        )
        self._bgr = spec.input_channel.upper() == "BGR" and spec.channel == 3
        self._perm = tuple(SOURCE_AXES.index(name) for name in spec.dim_names)
        sizes = {"batch": 1, "height": spec.height, "width": spec.width, "channel": spec.channel}
        #: the shape of one preprocessed image, batch axis included, in the model's axis order.
        self.row_shape: tuple[int, ...] = tuple(sizes[name] for name in spec.dim_names)

    def from_base64(self, text: str, budget: PixelBudget | None = None) -> np.ndarray:
        """Decode a base64 string (optionally a ``data:`` URL, wrapped or URL-safe) and preprocess it."""
        return self.preprocess(decode_base64(text), budget)

    def preprocess(self, data: bytes, budget: PixelBudget | None = None) -> np.ndarray:
        """Return the ``[1, ...]`` input row for one image file; :class:`InvalidImage` when undecodable."""
        return self.to_array(self.decode(data, budget))

    def decode(self, data: bytes, budget: PixelBudget | None = None) -> Image.Image:
        """Decode, orient, convert to ``RGB``/``L`` and resize one image file.

        When a JPEG is decoded in draft mode the resize uses the draft's crop box, so the geometry is
        that of a full decode (see the module docstring for what draft mode costs in exactness).
        The image's size and the target's are charged to ``budget`` before anything is decoded.
        """
        if not data:
            raise InvalidImage("image data is empty")
        try:
            image: Image.Image = Image.open(io.BytesIO(data), formats=self.options.formats)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            # above Pillow's own process-wide limits (which we leave alone; warnings.catch_warnings
            # is not thread-safe). The warning arrives as an exception only where warnings are errors.
            raise InvalidImage(
                f"image is too large to decode safely (limit {self.options.max_pixels} pixels)"
            ) from exc
        except Exception as exc:
            raise InvalidImage("image data is not a supported image file") from exc
        width, height = image.size
        if width < 1 or height < 1:
            raise InvalidImage(f"image has an empty size {width}x{height}")
        if width * height > self.options.max_pixels:
            raise InvalidImage(
                f"image is {width}x{height} = {width * height} pixels, over the limit of "
                f"{self.options.max_pixels} pixels"
            )
        if budget is not None:
            budget.spend(width * height + self.spec.width * self.spec.height)
        box: tuple[float, float] | None = None
        orientation: int | None = None
        try:
            # draft decoding is sized for SQUASH; the other modes decode in full (exact geometry)
            squash = self._resize_type == "SQUASH"
            if squash and self.options.jpeg_draft and image.format in _DRAFT_FORMATS:
                # a JPEG's EXIF block is read from the header, without decoding pixels.
                orientation = _orientation(image)
                box = self._draft(image, orientation)
            image.load()
            if orientation is None:
                orientation = _orientation(image)
            reduced_size = image.size
            if orientation in _TRANSPOSE_METHODS:
                image = ImageOps.exif_transpose(image)
            image = self._converted(image)
        except InvalidImage:
            raise
        except Exception as exc:
            raise InvalidImage("image data is truncated or corrupt") from exc
        target = (self.spec.width, self.spec.height)
        if box is not None:
            return image.resize(target, self._filter, box=_oriented_box(box, reduced_size, orientation))
        if not squash:
            return self._fitted(image, budget)
        if image.size != target:
            image = image.resize(target, self._filter)
        return image

    def _fitted(self, image: Image.Image, budget: PixelBudget | None) -> Image.Image:
        """CROP, FILL and SHORTER_SIDE: resize keeping the aspect ratio, then centre-crop or pad to
        height x width. The intermediate image is charged to the budget and bounded like a decode."""
        width, height = image.size
        target_w, target_h = self.spec.width, self.spec.height
        size = resized_size(self._resize_type, width, height, target_w, target_h, self.spec.crop_size)
        pixels = size[0] * size[1]
        if pixels > self.options.max_pixels:
            raise InvalidImage(
                f"image is {width}x{height}: resizing it by {self._resize_type} to {size[0]}x{size[1]} would "
                f"make {pixels} pixels, over the limit of {self.options.max_pixels}; send a less elongated image"
            )
        if budget is not None:
            budget.spend(pixels)
        if image.size != size:
            image = image.resize(size, self._filter)
        if self._resize_type == "FILL":
            canvas = Image.new(self._mode, (target_w, target_h), self._fill)
            canvas.paste(image, ((target_w - size[0]) // 2, (target_h - size[1]) // 2))
            return canvas
        left = round((size[0] - target_w) / 2.0)
        top = round((size[1] - target_h) / 2.0)
        return image.crop((left, top, left + target_w, top + target_h))

    def to_array(self, image: Image.Image) -> np.ndarray:
        """Normalise, reorder and cast a resized ``RGB``/``L`` image into the ``[1, ...]`` model layout."""
        pixels = np.asarray(image, dtype=np.float32)
        if pixels.ndim == 2:
            pixels = pixels[:, :, np.newaxis]
        if not self._identity_norm:
            if self._pixel_factor is not None:
                pixels = pixels * self._pixel_factor
            pixels = (pixels - self._mean) * self._scale
        if self._bgr:
            pixels = pixels[:, :, ::-1]
        pixels = pixels[np.newaxis].transpose(self._perm)
        return cast_pixels(pixels, self.dtype)

    def _draft(self, image: Image.Image, orientation: int) -> tuple[float, float] | None:
        """Ask libjpeg for a reduced decode; return the extent of real pixels, or None if not reduced.

        Draft mode rounds the reduced size up, so the last column/row may be a partial pixel; the
        extent (``right``, ``lower`` in reduced pixels) lets the resize ignore that fraction exactly as
        ``Image.thumbnail`` does.
        """
        target_w, target_h = self.spec.width * JPEG_DRAFT_GAP, self.spec.height * JPEG_DRAFT_GAP
        if orientation in _TRANSPOSING:
            target_w, target_h = target_h, target_w
        if image.size[0] < 2 * target_w or image.size[1] < 2 * target_h:
            return None
        result = image.draft(self._mode, (target_w, target_h))
        if result is None:
            return None
        _, (_, _, right, lower) = result
        return (float(right), float(lower))

    def _converted(self, image: Image.Image) -> Image.Image:
        mode = image.mode
        if mode == self._mode:
            return image
        if mode.startswith("I") or mode == "F":
            image = _to_8bit(image)
            if image.mode == self._mode:
                return image
        if mode in ("P", "PA"):
            # via RGBA: Pillow warns when a palette image with transparency goes straight to RGB/L.
            image = image.convert("RGBA")
        elif mode in ("LAB", "La"):
            raise InvalidImage(f"image mode {mode} is not supported")
        return image.convert(self._mode)


def decode_base64(text: str) -> bytes:
    """Strict base64 first (the fast, common case); then tolerate data URLs, line breaks, URL-safe
    characters and missing padding, which browsers and the ``base64`` tool produce."""
    if not isinstance(text, str):
        raise InvalidImage("image data must be a base64 string")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass
    else:
        if not data:
            raise InvalidImage("image data is empty")
        return data
    cleaned = text.strip()
    if cleaned.startswith("data:"):
        header, sep, cleaned = cleaned.partition(",")
        if not sep or not header.endswith(";base64"):
            raise InvalidImage("image data is a data URL without base64 content")
    cleaned = "".join(cleaned.split()).replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        data = base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidImage("image data is not valid base64") from exc
    if not data:
        raise InvalidImage("image data is empty")
    return data


def load_mean_file(folder: Path, name: str) -> np.ndarray:
    """Read a model's ``.npy`` mean file from its unpacked folder: numbers only, no pickles, bounded."""
    path = folder.joinpath(*name.split("/"))
    try:
        if path.stat().st_size > MAX_MEAN_FILE_BYTES:
            raise ScoringFailed(f"the mean file {name!r} is over {MAX_MEAN_FILE_BYTES} bytes")
        array = np.load(path, allow_pickle=False)
    except ScoringFailed:
        raise
    except Exception as exc:
        raise ScoringFailed(f"the mean file {name!r} cannot be read as a .npy array") from exc
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "iuf" or not np.all(np.isfinite(array)):
        raise ScoringFailed(f"the mean file {name!r} must hold finite numbers")
    return array


def _orientation(image: Image.Image) -> int:
    """EXIF orientation, 1 when absent or unreadable (a broken EXIF block must not reject the image)."""
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:
        return 1
    return value if isinstance(value, int) else 1


def _oriented_box(
    extent: tuple[float, float], reduced_size: tuple[int, int], orientation: int
) -> tuple[float, float, float, float]:
    """Where the draft's real-pixel box lies after the EXIF orientation moved the partial edge.

    Before orientation the partial column/row is at the right/bottom; each orientation sends that
    corner to a known place (``_PARTIAL_EDGE``), which decides the box in the oriented image.
    """
    right, lower = extent
    width, height = reduced_size
    transposed, flip_x, flip_y = _PARTIAL_EDGE.get(orientation, (False, False, False))
    if transposed:
        width, height, right, lower = height, width, lower, right
    x0, x1 = (width - right, float(width)) if flip_x else (0.0, right)
    y0, y1 = (height - lower, float(height)) if flip_y else (0.0, lower)
    return (x0, y0, x1, y1)


def _to_8bit(image: Image.Image) -> Image.Image:
    """16/32-bit integer -> 8-bit by ``>> 8`` (OpenCV's rule); float -> clipped to 0..255."""
    pixels = np.asarray(image)
    if image.mode == "F":
        scaled = np.clip(np.nan_to_num(pixels), 0, 255)
    else:
        scaled = np.clip(pixels.astype(np.int64) >> 8, 0, 255)
    return Image.fromarray(scaled.astype(np.uint8), "L")
