"""Product images made fit for a store: upright, stripped of metadata, bounded in size, re-encoded.

Zoho hands back whatever the merchant uploaded: phone photos that rely on EXIF rotation,
40-megapixel camera files, CMYK JPEGs from print work, palette GIFs, the odd PDF or broken file.
`optimise` turns the good ones into a small JPEG (PNG when transparency must survive) or WebP and
refuses the rest with a reason a person can act on. It is synchronous and CPU-bound: async
callers run it with `asyncio.to_thread`.
"""

from __future__ import annotations

import hashlib
import io
import struct
from dataclasses import dataclass
from typing import Any, cast

from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_OUTPUTS = ("jpeg", "webp")
# What Zoho accepts as item images (gif/png/jpeg/bmp/webp); "JPEG" also opens MPO (phone
# JPEGs with a depth map). Nothing else is even opened: EPS, for one, Pillow hands to Ghostscript.
SOURCE_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP")
_SIGNATURES = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF8", "GIF"), (b"BM", "BMP"))
_WIDE_GREY_MODES = {"I", "I;16", "I;16L", "I;16B", "I;16N", "F"}
# Everything Pillow's decoders are known to raise on hostile or broken bytes.
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError, KeyError, TypeError,
                  ZeroDivisionError)


class ImageRejected(Exception):
    """The bytes are not an image we will publish; `reason` says why, for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class OptimisedImage:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int
    sha256: str  # hex digest of `data`, so an unchanged result can be recognised without re-uploading


def optimise(
    data: bytes,
    *,
    max_edge: int = 2048,
    output: str = "jpeg",
    quality: int = 85,
    max_source_pixels: int = 60_000_000,
) -> OptimisedImage:
    """Re-encode `data` as a store-ready image, or raise ImageRejected saying why not.

    EXIF orientation is applied, then every piece of metadata (EXIF, XMP, comments, text chunks)
    is dropped; an RGB ICC profile is kept because it changes how the colours look (wide-gamut
    phone photos), and it carries nothing personal. The long edge is brought down to `max_edge`,
    never up. `output` "jpeg" gives a progressive JPEG, or an optimised PNG when some pixel is
    really transparent; "webp" gives WebP, with alpha when there is any. Alpha is never
    flattened onto black.

    Size is checked from the header before anything is decoded: a JPEG over `max_source_pixels`
    is decoded at 1/2, 1/4 or 1/8 scale (`draft`), so memory stays bounded; any other format
    over it is refused. Pillow's own decompression-bomb ceiling (2 x Image.MAX_IMAGE_PIXELS) still
    refuses larger files at open. A file that ends early is refused whatever
    `ImageFile.LOAD_TRUNCATED_IMAGES` says (see `_EndGuard`).

    ValueError is for bad arguments; bad bytes only ever raise ImageRejected.
    """
    _check_arguments(max_edge=max_edge, output=output, quality=quality, max_source_pixels=max_source_pixels)
    if not data:
        raise ImageRejected("the file is empty (0 bytes)")
    try:
        image = _decode(data, max_edge=max_edge, max_source_pixels=max_source_pixels)
        ImageOps.exif_transpose(image, in_place=True)
        icc = image.info.get("icc_profile")
        image = _to_rgb_or_rgba(image)
        if max(image.size) > max_edge:
            image = image.resize(_fit(image.size, max_edge), Image.Resampling.LANCZOS)
        return _encode(image, output=output, quality=quality, icc=_rgb_profile(icc))
    except ImageRejected:
        raise
    # Pillow only warns (once per process) for a header over Image.MAX_IMAGE_PIXELS, a huge JPEG
    # included; that arrives here as an exception only where warnings are made errors.
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(f"the image is too large to decode safely: {exc}") from None
    except UnidentifiedImageError:
        raise ImageRejected(_unidentified_reason(data)) from None
    except _DECODE_ERRORS as exc:
        raise ImageRejected(f"the image is corrupt or truncated: {exc or type(exc).__name__}") from None


def _unidentified_reason(data: bytes) -> str:
    """Pillow could not open it: a known signature means a broken file, not the wrong kind."""
    claimed = "WebP" if data[:4] == b"RIFF" and data[8:12] == b"WEBP" else None
    claimed = claimed or next((kind for magic, kind in _SIGNATURES if data.startswith(magic)), None)
    if claimed:
        return f"the file starts like a {claimed} but its header is corrupt or truncated"
    return f"not an image in a format we read ({', '.join(SOURCE_FORMATS)})"


def _check_arguments(*, max_edge: int, output: str, quality: int, max_source_pixels: int) -> None:
    if output not in IMAGE_OUTPUTS:
        raise ValueError(f"output must be one of {IMAGE_OUTPUTS}, not {output!r}")
    if max_edge < 1 or max_source_pixels < 1:
        raise ValueError("max_edge and max_source_pixels must be positive")
    if not 1 <= quality <= 100:
        raise ValueError("quality must be between 1 and 100")


class _EndGuard(io.BytesIO):
    """Image bytes that, once decoding has started, refuse to be read past their end.

    Pillow pads a file that ends early with grey and carries on when anything in the process
    has set `ImageFile.LOAD_TRUNCATED_IMAGES`; a decoder asking for more data when none is left
    is the file ending before the image did, whatever that global says. (With the global set,
    Pillow also stops reporting decoder errors, so corruption *inside* compressed data is then
    only caught as far as the decoder itself raises.)
    """

    armed = False

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        if self.armed and not chunk and size is not None and size > 0:
            raise EOFError("the file ends before the image data does")
        return chunk


def _decode(data: bytes, *, max_edge: int, max_source_pixels: int) -> Image.Image:
    """Open (header only), check the size, shrink a huge JPEG while decoding, then decode."""
    source = _EndGuard(data)
    image = Image.open(source, formats=SOURCE_FORMATS)
    width, height = image.size
    if width * height > max_source_pixels:
        if image.format not in ("JPEG", "MPO"):
            raise ImageRejected(
                f"the image is {width}x{height} pixels ({width * height / 1e6:.0f} megapixels); "
                f"only JPEG may exceed {max_source_pixels / 1e6:g} megapixels"
            )
        image.draft(None, _fit((width, height), max_edge))  # the deepest 1/2, 1/4, 1/8 cut still >= the output
        if image.size[0] * image.size[1] > max_source_pixels:
            raise ImageRejected(
                f"the image is {width}x{height} pixels, still over {max_source_pixels / 1e6:g} megapixels "
                "when decoded at reduced scale"
            )
    source.armed = True
    image.load()  # the first frame of an animation
    return image


def _to_rgb_or_rgba(image: Image.Image) -> Image.Image:
    """RGB, or RGBA when some pixel is really see-through (an unused alpha channel is dropped)."""
    if image.mode in _WIDE_GREY_MODES:
        image = _grey_to_8bit(image)
    if image.has_transparency_data:
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")
        bands = cast(tuple[tuple[int, int], ...], rgba.getextrema())  # per band for a multi-band image
        if bands[3][0] < 255:
            return rgba
        image = rgba
    return image if image.mode == "RGB" else image.convert("RGB")


def _grey_to_8bit(image: Image.Image) -> Image.Image:
    """16- and 32-bit grey scaled into 0-255; a plain convert clips everything above 255 to white."""
    wide = image.convert("F")
    high = cast(tuple[float, float], wide.getextrema())[1]  # one band: (low, high)
    if high > 255:
        scale = 255 / max(65535, high)
        wide = wide.point(lambda value: value * scale)
    return wide.convert("L")


def _fit(size: tuple[int, int], max_edge: int) -> tuple[int, int]:
    """`size` with its long edge brought down to `max_edge`, aspect ratio kept; never larger."""
    width, height = size
    if max(width, height) <= max_edge:
        return size
    scale = max_edge / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _rgb_profile(icc: Any) -> bytes | None:
    """The source ICC profile when it describes RGB, the only space written; else none."""
    if isinstance(icc, bytes) and icc[16:20] == b"RGB ":  # the profile header's colour space field
        return icc
    return None


def _encode(image: Image.Image, *, output: str, quality: int, icc: bytes | None) -> OptimisedImage:
    options: dict[str, Any] = {"icc_profile": icc} if icc else {}
    if output == "webp":
        kind, content_type, extension = "WEBP", "image/webp", "webp"
        options |= {"quality": quality}
    elif image.mode == "RGBA":
        kind, content_type, extension = "PNG", "image/png", "png"
        options |= {"optimize": True}
    else:
        kind, content_type, extension = "JPEG", "image/jpeg", "jpg"
        options |= {"quality": quality, "optimize": True, "progressive": True}
    image.info = {}  # some encoders copy EXIF, XMP or comments from here; none of it may ride along
    buffer = io.BytesIO()
    image.save(buffer, kind, **options)
    encoded = buffer.getvalue()
    return OptimisedImage(encoded, content_type, extension, image.width, image.height,
                          hashlib.sha256(encoded).hexdigest())
