"""Fixed image token costs, from the providers' documented formulas.

An image's cost depends on its pixel size, which a log only carries when the image was
sent inline (a base64 data URL). The size is read from the image header (PNG, GIF,
JPEG, WebP) without decoding pixels and without any imaging library. A linked image
(an ``https://`` URL) has no size offline: its cost is estimated from the size its address
states by a common convention (``url_size``), else from a typical size, and labelled as an
estimate.

Sources: OpenAI vision guide, "Calculating costs" (tile models: base + tile tokens per
512-px tile after fitting in 2048 px and shrinking the short side to 768 px; low detail:
base only; patch models: 32-px patches, at most 1,536, times a per-model multiplier);
Anthropic vision docs (tokens ≈ width × height / 750, images fit within 1568 px);
Gemini docs (258 tokens per image up to 384 px, else per 768-px tile).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import struct
from urllib.parse import parse_qs, urlsplit

# A linked image of unknown size is costed as a 1024 x 1024 image (an estimate).
TYPICAL_SIZE = (1024, 1024)
_HEADER_BYTES = 64 * 1024  # enough for the size marker of nearly every JPEG

# The largest side any image format here can state (JPEG and WebP store 16 bits); a header
# or an address claiming more is no size at all (and would make the formulas' floats overflow)
MAX_SIDE = 65_535
# Sizes a linked image's address states by a common convention (see ``url_size``); ASCII
# digits only (``str.isdigit`` also takes superscripts and other scripts' digits)
_SIDE = r"([1-9][0-9]{1,4})"
_NUMBER = re.compile(r"[1-9][0-9]{0,4}")
# matched against host + path (the query and fragment are apart already)
_PICSUM = re.compile(rf"(?:[a-z]+\.)?picsum\.photos/(?:id/[0-9]+/)?{_SIDE}/{_SIDE}(?:[/.]|$)")
_WIKIMEDIA_WIDTH = re.compile(rf"{_SIDE}px-[^/]+")  # the last segment of a thumbnail's path
# two numbers joined by an x, not inside a word or an id (``Ab12x34Qz``) and not part of a
# third (``1920x1080x2``)
_WIDTH_BY_HEIGHT = re.compile(rf"(?<![0-9A-Za-z])(?<![0-9]x){_SIDE}x{_SIDE}(?![0-9]|x[0-9])")
_QUERY_SIDES = (("w", "h"), ("width", "height"))


def _plausible(size: tuple[int, int] | None) -> tuple[int, int] | None:
    """``size`` if both sides are 1 to ``MAX_SIDE`` pixels, else None (unknown)."""
    if size is None or not all(1 <= side <= MAX_SIDE for side in size):
        return None
    return size


def data_url_size(url: str) -> tuple[int, int] | None:
    """(width, height) of a ``data:image/...;base64,`` URL, or None when unknown."""
    if not url.startswith("data:") or ";base64," not in url[:100]:
        return None
    encoded = url.split(",", 1)[1]
    head = encoded[: _HEADER_BYTES * 4 // 3 // 4 * 4]
    try:
        return _plausible(image_size(base64.b64decode(head, validate=False)))
    except (binascii.Error, ValueError):
        return None


def url_size(url: str) -> tuple[int, int] | None:
    """(width, height) a linked image's address states, or None.

    Read only where a convention says it: picsum.photos' ``/W/H``, a Wikimedia thumbnail's
    ``/Npx-name`` (its width; taken as square), a ``WxH`` in the path (``800x400``,
    ``logo_272x92dp.png``), or ``w``/``h`` (``width``/``height``) query parameters, as
    image CDNs take them. Still an estimate: the image behind the address may differ.
    Four recorded calls link such images (an 800x400 Unsplash picture, a 200x300 picsum
    one, a 320-px Wikimedia thumbnail, a 272x92 logo), each billed as that size says.
    """
    if not url[:8].lower().startswith(("http://", "https://")):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # a malformed address (unbalanced IPv6 brackets, odd host)
        return None
    host, path = parts.netloc.lower(), parts.path
    found = _PICSUM.match(host + path)
    if found:
        return _plausible((int(found[1]), int(found[2])))
    if host == "upload.wikimedia.org" and "/thumb/" in path:
        found = _WIKIMEDIA_WIDTH.fullmatch(path.rsplit("/", 1)[-1])
        if found:
            return _plausible((int(found[1]), int(found[1])))
    found = _WIDTH_BY_HEIGHT.search(path)
    if found:
        return _plausible((int(found[1]), int(found[2])))
    query = parse_qs(parts.query)
    for wide, high in _QUERY_SIDES:
        width, height = query.get(wide, [""])[-1], query.get(high, [""])[-1]
        if _NUMBER.fullmatch(width) and _NUMBER.fullmatch(height):
            return _plausible((int(width), int(height)))
    return None


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG, GIF, JPEG or WebP header; None for anything else."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(width), int(height)
        i += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return int(width & 0x3FFF), int(height & 0x3FFF)
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    return None


def openai_tile_tokens(size: tuple[int, int], base: int, tile: int, low: bool) -> int:
    """Tile models (gpt-4o, gpt-4.1, o1, o3, gpt-5): base + tile per 512-px tile."""
    if low:
        return base
    width, height = float(size[0]), float(size[1])
    if max(width, height) > 2048:
        scale = 2048 / max(width, height)
        width, height = width * scale, height * scale
    if min(width, height) > 768:
        scale = 768 / min(width, height)
        width, height = width * scale, height * scale
    tiles = math.ceil(width / 512) * math.ceil(height / 512)
    return base + tile * tiles


def openai_patch_tokens(size: tuple[int, int], multiplier: float) -> int:
    """Patch models (gpt-4.1-mini/nano, o4-mini): 32-px patches, at most 1,536."""
    width, height = float(size[0]), float(size[1])
    patches = math.ceil(width / 32) * math.ceil(height / 32)
    if patches > 1536:
        scale = math.sqrt(32 * 32 * 1536 / (width * height))
        width, height = width * scale, height * scale
        # shrink further so whole patches fit, as the guide's worked example does
        scale = min(math.floor(width / 32) / (width / 32), math.floor(height / 32) / (height / 32))
        width, height = width * scale, height * scale
        patches = min(1536, math.ceil(width / 32) * math.ceil(height / 32))
    # an image too narrow for the guide's shrinking keeps at least one patch
    return math.ceil(max(1, patches) * multiplier)


def anthropic_tokens(size: tuple[int, int]) -> int:
    """Claude: about width x height / 750 after fitting within 1568 px (an estimate)."""
    width, height = float(size[0]), float(size[1])
    if max(width, height) > 1568:
        scale = 1568 / max(width, height)
        width, height = width * scale, height * scale
    return math.ceil(width * height / 750)


def gemini_tokens(size: tuple[int, int]) -> int:
    """Gemini: 258 tokens up to 384 px, else 258 per 768-px tile (an estimate)."""
    width, height = size
    if width <= 384 and height <= 384:
        return 258
    return 258 * math.ceil(width / 768) * math.ceil(height / 768)
