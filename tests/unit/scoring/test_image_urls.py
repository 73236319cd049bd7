"""``{"imageUrl": ...}`` image records (issue 16) through the converter, with a hand-written fetcher:
the same rows as base64, one time budget per request, errors that name the record, and the count
limit checked before anything is fetched. (Addresses and HTTP: tests/api/test_image_urls.py.)"""

from __future__ import annotations

import base64

import numpy as np
import pytest

from omlsvc.core.errors import FetchFailed, InvalidInput, PayloadTooLarge, UrlNotAllowed
from omlsvc.scoring.image_urls import ImageUrls
from omlsvc.scoring.images import ImageOptions
from omlsvc.scoring.inputs import InputConverter
from tests.unit.scoring.builders import BuiltModel, encode, gradient_image


class FakeFetcher:
    """Serves ``files`` by URL and records each call's URL and time budget; other URLs raise
    what ``errors`` says."""

    def __init__(self, files: dict[str, bytes], errors: dict[str, Exception] | None = None) -> None:
        self.files = files
        self.errors = errors or {}
        self.calls: list[tuple[str, float]] = []

    def __call__(self, url: str, timeout_s: float, /) -> bytes:
        self.calls.append((url, timeout_s))
        if url in self.errors:
            raise self.errors[url]
        return self.files[url]


def converter(
    model: BuiltModel, fetcher: FakeFetcher, max_urls: int = 4, timeout_s: float = 15.0
) -> InputConverter:
    urls = ImageUrls(fetcher, max_urls, timeout_s)
    return InputConverter(model.spec, image_options=ImageOptions(urls=urls))


def test_a_fetched_image_gives_the_rows_of_the_same_file_in_base64(image_nchw: BuiltModel) -> None:
    png, jpeg = encode(gradient_image(40, 30), "PNG"), encode(gradient_image(20, 25, seed=3), "JPEG")
    fetcher = FakeFetcher({"https://a/p.png": png, "https://a/j.jpg": jpeg})
    fetched = converter(image_nchw, fetcher).convert(
        [{"image": {"imageUrl": "https://a/p.png"}}, {"image": base64.b64encode(jpeg).decode()}]
    )
    inline = InputConverter(image_nchw.spec).convert(
        [{"image": base64.b64encode(png).decode()}, {"image": base64.b64encode(jpeg).decode()}]
    )
    np.testing.assert_array_equal(fetched.arrays["image"], inline.arrays["image"])
    assert fetched.row_counts == (1, 1)
    assert [url for url, _ in fetcher.calls] == ["https://a/p.png"]


def test_the_urls_of_one_request_share_one_time_budget(image_nchw: BuiltModel) -> None:
    png = encode(gradient_image(16, 16), "PNG")
    fetcher = FakeFetcher({"u1": png, "u2": png})
    converter(image_nchw, fetcher, timeout_s=5.0).convert(
        [{"image": {"imageUrl": "u1"}}, {"image": {"imageUrl": "u2"}}]
    )
    (_, first), (_, second) = fetcher.calls
    assert 0 < second <= first <= 5.0


def test_too_many_urls_are_refused_before_any_fetch(image_nchw: BuiltModel) -> None:
    fetcher = FakeFetcher({})
    with pytest.raises(InvalidInput, match=r"3 records reference .* at most 2 .*OMLSVC_MAX_IMAGE_URLS"):
        converter(image_nchw, fetcher, max_urls=2).convert([{"image": {"imageUrl": "u"}}] * 3)
    assert fetcher.calls == []


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (UrlNotAllowed("The host 'h' resolves to 10.0.0.1, ..."), UrlNotAllowed),
        (FetchFailed("The server answered HTTP 404 for http://h/x.png."), FetchFailed),
        # the file behind the URL is too large, not the request: a 400, not a 413
        (PayloadTooLarge("The file is over the limit of 10 bytes."), FetchFailed),
    ],
)
def test_fetch_errors_name_the_record_and_field(
    image_nchw: BuiltModel, error: Exception, kind: type[Exception]
) -> None:
    png = encode(gradient_image(16, 16), "PNG")
    fetcher = FakeFetcher({"good": png}, {"bad": error})
    with pytest.raises(kind) as caught:
        converter(image_nchw, fetcher).convert(
            [{"image": {"imageUrl": "good"}}, {"image": {"imageUrl": "bad"}}]
        )
    assert type(caught.value) is kind
    assert str(caught.value).startswith("record 1, input 'image', imageUrl: ")


def test_an_exhausted_budget_fetches_no_more(image_nchw: BuiltModel) -> None:
    png = encode(gradient_image(16, 16), "PNG")
    fetcher = FakeFetcher({"u": png})
    with pytest.raises(
        FetchFailed, match=r"^record 0, input 'image': the images of this request took longer"
    ):
        converter(image_nchw, fetcher, timeout_s=1e-9).convert([{"image": {"imageUrl": "u"}}])
    assert fetcher.calls == []
