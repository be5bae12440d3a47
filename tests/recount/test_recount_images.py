"""Image sizes from headers and the providers' documented image token formulas."""

from __future__ import annotations

import base64
import struct
import zlib

import pytest

from tokaudit.recount import count_request, images


def _png(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(header))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
    )


def _jpeg(width: int, height: int) -> bytes:
    app0 = (
        b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    )
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def _data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (_png(800, 400), (800, 400)),
        (b"GIF89a" + struct.pack("<HH", 320, 200) + b"\x00" * 8, (320, 200)),
        (_jpeg(1024, 768), (1024, 768)),
        (
            b"RIFF\x00\x00\x00\x00WEBPVP8X"
            + b"\x00" * 8
            + (1999).to_bytes(3, "little")
            + (999).to_bytes(3, "little"),
            (2000, 1000),
        ),
        (b"not an image", None),
    ],
)
def test_image_size_from_header(data: bytes, size: tuple[int, int] | None) -> None:
    assert images.image_size(data) == size


def test_data_url_size_and_non_data_urls() -> None:
    assert images.data_url_size(_data_url("image/png", _png(64, 32))) == (64, 32)
    assert images.data_url_size("https://example.com/cat.png") is None


@pytest.mark.parametrize(
    ("size", "low", "tokens"),
    [
        ((1024, 1024), False, 765),  # OpenAI vision guide worked example
        ((2048, 4096), False, 1105),  # idem
        ((4096, 8192), True, 85),  # low detail: the base cost whatever the size
        ((800, 400), False, 425),  # gpt-4-vision-preview reported 438 = 425 + 13 text
    ],
)
def test_openai_tile_formula(size: tuple[int, int], low: bool, tokens: int) -> None:
    assert images.openai_tile_tokens(size, 85, 170, low) == tokens


def test_openai_patch_formula() -> None:
    """Guide examples: 1024 x 1024 is 1,024 patches; 1800 x 2400 is scaled to 1,452."""
    assert images.openai_patch_tokens((1024, 1024), 1.0) == 1024
    assert images.openai_patch_tokens((1800, 2400), 1.0) == 1452
    assert images.openai_patch_tokens((1024, 1024), 1.62) == 1659


def _vision(url: str, detail: str | None = None) -> dict[str, object]:
    image: dict[str, str] = {"url": url}
    if detail:
        image["detail"] = detail
    return {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this image?"},
                    {"type": "image_url", "image_url": image},
                ],
            }
        ]
    }


def test_inline_image_of_known_size_is_exact() -> None:
    """13 tokens of text and framing (as reported on gpt-4-vision) + 765 for 1024 x 1024."""
    got = count_request(_vision(_data_url("image/png", _png(1024, 1024))), "gpt-4o")
    assert (got.input_tokens, got.input_exact) == (13 + 765, True)


def test_low_detail_link_is_exact_and_unknown_size_is_an_estimate() -> None:
    low = count_request(_vision("https://example.com/a.png", "low"), "gpt-4o")
    assert (low.input_tokens, low.input_exact) == (13 + 85, True)
    mini = count_request(_vision("https://example.com/a.png", "low"), "gpt-4o-mini")
    assert (mini.input_tokens, mini.input_exact) == (13 + 2833, True)
    unknown = count_request(_vision("https://example.com/a.png"), "gpt-4o")
    assert unknown.input_exact is False


@pytest.mark.parametrize(
    ("url", "size"),
    [
        ("https://fastly.picsum.photos/id/237/200/300.jpg?hmac=TmmQSb", (200, 300)),
        ("https://picsum.photos/640/480", (640, 480)),
        (
            "https://upload.wikimedia.org/wikipedia/commons/thumb/3/3a/Cat03.jpg/320px-Cat03.jpg",
            (320, 320),
        ),
        ("https://upload.wikimedia.org/wikipedia/commons/a/a9/Example.jpg", None),
        ("https://source.unsplash.com/8xznAGy4HcY/800x400", (800, 400)),
        (
            "https://www.google.com/images/branding/googlelogo/1x/googlelogo_color_272x92dp.png",
            (272, 92),
        ),
        ("https://placehold.co/600x400.png?w=1&h=2", (600, 400)),  # the path wins
        ("https://cdn.example.com/photo.jpg?w=1200&h=800&fit=crop", (1200, 800)),
        ("https://cdn.example.com/photo.jpg?width=300&height=200", (300, 200)),
        ("https://cdn.example.com/photo.jpg?w=1200", None),  # one side only
        ("https://cdn.example.com/photo.jpg?w=0&h=5", None),
        ("https://example.com/0x1234/photo.jpg", None),  # no side starts with 0
        ("https://example.com/img/1920x1080x2.jpg", None),  # three numbers: no convention
        ("https://example.com/a@2x.png", None),
        ("https://example.com/800x400.png#x", (800, 400)),
        ("ftp://example.com/800x400.png", None),
        (_data_url("image/png", _png(10, 10)), None),
    ],
)
def test_url_size_reads_only_stated_conventions(url: str, size: tuple[int, int] | None) -> None:
    assert images.url_size(url) == size


def test_linked_image_costed_at_the_size_its_address_states_is_an_estimate() -> None:
    """An 800 x 400 picture (2 tiles on gpt-4o: 85 + 2 x 170) whose address says so: the
    recorded gpt-4-vision call with that Unsplash address agrees so (340 over at 1024 x 1024);
    an address that states nothing is costed at 1024 x 1024 (765)."""
    stated = count_request(_vision("https://source.unsplash.com/8xznAGy4HcY/800x400"), "gpt-4o")
    assert (stated.input_tokens, stated.input_exact) == (13 + 85 + 2 * 170, False)
    unknown = count_request(_vision("https://example.com/a.png"), "gpt-4o")
    assert (unknown.input_tokens, unknown.input_exact) == (13 + 765, False)


@pytest.mark.parametrize(
    "url",
    [
        "https://ex.com/a.png?w=1" + "0" * 400 + "&h=1",  # a float overflow before
        "https://ex.com/a.png?w=99999999999999999999&h=99999",
        "https://ex.com/99999x99999.png",  # beyond what any format here can state
        "https://[::1/a.png",  # urlsplit raises ValueError on these three
        "https://[zz]/a.png",
        "https://ex.com：80/800x400.png",
        "https://ex.com/a.png?w=%C2%B2&h=4",  # '²' passes str.isdigit
        "https://ex.com/a.png?w=\u0664\u0660\u0660&h=400",  # Arabic-Indic digits
        "https://i.imgur.com/Ab12x34Qz.png",  # an id, not a size
        "https://cdn.example.com/a9f3c12x4567e.jpg",
    ],
)
def test_url_size_refuses_what_states_no_plausible_size(url: str) -> None:
    """QA: addresses that crashed the recount (OverflowError), made it count a message as
    its JSON text (a ValueError inside the drawing), or read a size out of an id."""
    assert images.url_size(url) is None
    got = count_request(_vision(url), "gpt-4o")
    assert (got.input_tokens, got.input_exact) == (13 + 765, False)  # 1024 x 1024


def test_url_size_reads_addresses_in_any_case_and_a_long_one_in_linear_time() -> None:
    assert images.url_size("HTTPS://Upload.Wikimedia.org/x/thumb/a/b/C.jpg/320px-C.jpg") == (
        320,
        320,
    )
    # a 100 KB address took 4.9 s against a backtracking pattern (twice the length, four
    # times the time); now one pass
    assert images.url_size("https://upload.wikimedia.org/" + "thumb/" * 16_700 + "x") is None


def test_header_sizes_beyond_any_format_are_unknown_and_formulas_stay_finite() -> None:
    huge = _data_url("image/png", _png(2**31 - 1, 2**31 - 1))
    assert images.data_url_size(huge) is None
    got = count_request(_vision(huge), "gpt-4o")
    assert (got.input_tokens, got.input_exact) == (13 + 765, False)
    # an image too narrow for the guide's shrinking keeps one patch (it gave 0 tokens)
    assert images.openai_patch_tokens((10, 65_535), 1.62) >= 2
    assert images.openai_patch_tokens((1, 65_535), 2.46) >= 3
