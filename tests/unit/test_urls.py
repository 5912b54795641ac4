"""A feed's location is masked when it is parsed (issue 18): no userinfo, no credential-like
query values, in every way a feed is read, so it is never cached, logged or served raw."""

from __future__ import annotations

import msgspec
import pytest

from graphql_api.upstream import models as m
from graphql_api.upstream.urls import REDACTED, mask_url

R = REDACTED


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("https://feeds.example.com/a.tsv", "https://feeds.example.com/a.tsv"),
        ("https://user:pa55@Feeds.Example.com:8443/a.csv", "https://Feeds.Example.com:8443/a.csv"),
        ("ftp://user@ftp.example.com/feed.xml", "ftp://ftp.example.com/feed.xml"),
        ("sftp://u:p%40ss@host/f.csv", "sftp://host/f.csv"),
        (
            "https://h/f.csv?v=2&token=abc&lang=en%20US",
            f"https://h/f.csv?v=2&token={R}&lang=en%20US",
        ),
        (
            "https://b.s3.amazonaws.com/f.tsv?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=AKIA%2F20260101&X-Amz-Signature=f00&X-Amz-Security-Token=t",
            f"https://b.s3.amazonaws.com/f.tsv?X-Amz-Algorithm={R}"
            f"&X-Amz-Credential={R}&X-Amz-Signature={R}&X-Amz-Security-Token={R}",
        ),
        (
            "https://storage.googleapis.com/b/f?GoogleAccessId=a&Expires=9&Signature=s",
            f"https://storage.googleapis.com/b/f?GoogleAccessId=a&Expires=9&Signature={R}",
        ),
        (
            "https://h/f?sv=2022&sig=abc%3D&se=2026",  # Azure SAS
            f"https://h/f?sv=2022&sig={R}&se=2026",
        ),
        (
            "https://h/f?key=k&api_key=k&apiKey=k&client_secret=s&password=p&pwd=p&auth=a"
            "&access_token=t&Authorization=Bearer%20x&keyword=shoes",
            f"https://h/f?key={R}&api_key={R}&apiKey={R}&client_secret={R}&password={R}"
            f"&pwd={R}&auth={R}&access_token={R}&Authorization={R}&keyword=shoes",
        ),
        ("https://h/f?token=&flag", "https://h/f?token=&flag"),  # nothing to hide
        ("https://h/f#access_token=t&state=s", f"https://h/f#access_token={R}&state=s"),
        ("https://h/f#section", "https://h/f#section"),
        ("  https://u:p@h/f  ", "https://h/f"),
        ("not a url", "not a url"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked
    assert mask_url(masked) == masked  # masking a masked URL changes nothing


def test_what_cannot_be_read_as_a_url_is_not_kept() -> None:
    assert mask_url("https://u:secret@[::1/feed") is None


SECRET_URL = "https://bob:hunter2@feeds.example.com/f.tsv?token=s3cret&page=1"
MASKED = f"https://feeds.example.com/f.tsv?token={R}&page=1"


def _feeds(location: object) -> list[m.Feed]:
    """A feed with ``location`` read every way a feed is read: alone and in a listing, by the
    fast path and by the lenient one (an odd field sends it there), and from the caches' forms."""
    fast = {"id": "1", "location": location}
    lenient = {**fast, "created_at": 5, "status": 3}  # not strings: the lenient reading
    feeds = []
    for data in (fast, lenient):
        raw = msgspec.json.encode(data)
        feeds.append(m.parse_feed_json(raw))
        (item,) = m.parse_feeds_json(b'{"items": [' + raw + b"]}").items
        assert isinstance(item, m.Feed)
        feeds.append(item)
    for feed in list(feeds):
        feeds.append(msgspec.msgpack.decode(msgspec.msgpack.encode(feed), type=m.Feed))
        feeds.append(msgspec.json.decode(msgspec.json.encode(feed), type=m.Feed))
    return feeds


def test_a_feeds_location_is_masked_however_it_is_read() -> None:
    for feed in _feeds(SECRET_URL):
        assert feed.location == MASKED
        for secret in (b"bob", b"hunter2", b"s3cret"):
            assert secret not in msgspec.json.encode(feed)
            assert secret not in msgspec.msgpack.encode(feed)
            assert secret.decode() not in repr(feed)


def test_a_feed_built_in_code_is_masked_too() -> None:
    assert m.Feed(id="1", location=SECRET_URL).location == MASKED


@pytest.mark.parametrize(("location", "read"), [(None, None), (7, "7"), ("[::1", "[::1")])
def test_odd_locations_do_not_fail_the_feed(location: object, read: str | None) -> None:
    for feed in _feeds(location):
        assert feed.location == read
