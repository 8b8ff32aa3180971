"""The image optimiser on images made here: orientation, metadata, size, transparency, modes, and
every way bytes can be bad, including a 12,000 x 12,000 JPEG decoded in bounded memory."""

from __future__ import annotations

import hashlib
import io
import json
import random
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageCms, ImageFile

from app.images.optimize import IMAGE_OUTPUTS, ImageRejected, OptimisedImage, optimise

ROOT = Path(__file__).resolve().parents[2]
RED, BLUE = (220, 20, 30), (20, 40, 220)


def encode(image: Image.Image, kind: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind, **options)
    return buffer.getvalue()


def halves(size: tuple[int, int], left: tuple[int, ...], right: tuple[int, ...], mode: str = "RGB") -> Image.Image:
    """Left half one colour, right half another: shows which way an image was turned."""
    image = Image.new(mode, size, left)
    image.paste(right, (size[0] // 2, 0, size[0], size[1]))
    return image


def opened(result: OptimisedImage) -> Image.Image:
    image = Image.open(io.BytesIO(result.data))
    image.load()
    return image


def near(pixel: tuple[int, ...], colour: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=False))


def png_header(width: int, height: int) -> bytes:
    """A PNG signature and IHDR claiming a size, with one tiny IDAT: enough for a header check."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


# --------------------------------------------------------------------------- orientation and metadata


def test_exif_orientation_is_applied_before_scaling() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    data = encode(halves((40, 20), RED, BLUE), "JPEG", quality=95, exif=exif.tobytes())
    upright = optimise(data)
    assert (upright.width, upright.height) == (20, 40)
    image = opened(upright)
    assert image.size == (20, 40)
    assert near(image.getpixel((10, 5)), RED) and near(image.getpixel((10, 35)), BLUE)  # left went to the top
    small = optimise(data, max_edge=20)
    assert (small.width, small.height) == (10, 20) and opened(small).size == (10, 20)


def test_metadata_is_stripped_and_an_rgb_icc_profile_kept() -> None:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0131] = "SecretEditor"  # Software
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    source = encode(Image.new("RGB", (64, 48), RED), "JPEG", exif=exif.tobytes(), comment=b"SecretComment",
                    xmp=b"<x:xmpmeta>SecretXmp</x:xmpmeta>", icc_profile=srgb)
    assert Image.open(io.BytesIO(source)).getexif()[0x010F] == "SecretCam"
    for output in IMAGE_OUTPUTS:
        result = optimise(source, output=output)
        image = opened(result)
        assert not image.getexif()
        assert not {"exif", "xmp", "comment", "XML:com.adobe.xmp"} & set(image.info)
        assert not any(secret in result.data for secret in (b"Secret", b"Exif\0\0"))
        assert image.info.get("icc_profile") == srgb


def test_a_profile_of_another_colour_space_is_dropped() -> None:
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    assert lab[16:20] == b"Lab "
    grey = encode(Image.new("L", (32, 32), 128), "JPEG", icc_profile=lab)
    image = opened(optimise(grey))
    assert image.mode == "RGB" and "icc_profile" not in image.info


def test_png_text_chunks_do_not_survive() -> None:
    from PIL.PngImagePlugin import PngInfo

    text = PngInfo()
    text.add_text("Author", "SecretAuthor")
    rgba = Image.new("RGBA", (30, 30), (*RED, 255))
    rgba.paste((0, 0, 0, 0), (0, 0, 15, 30))
    result = optimise(encode(rgba, "PNG", pnginfo=text))
    assert result.content_type == "image/png" and b"SecretAuthor" not in result.data
    assert "Author" not in opened(result).info


# --------------------------------------------------------------------------- size


def test_long_edge_is_limited_and_small_images_are_not_upscaled() -> None:
    wide = encode(halves((3000, 1000), RED, BLUE), "PNG")
    result = optimise(wide)
    assert (result.width, result.height) == (2048, 683) and opened(result).size == (2048, 683)
    assert (optimise(wide, max_edge=600).width, optimise(wide, max_edge=600).height) == (600, 200)
    small = optimise(encode(halves((300, 200), RED, BLUE), "PNG"), max_edge=2048)
    assert (small.width, small.height) == (300, 200)


def test_result_fields() -> None:
    result = optimise(encode(Image.new("RGB", (50, 40), BLUE), "PNG"))
    assert (result.content_type, result.extension) == ("image/jpeg", "jpg")
    assert result.data.startswith(b"\xff\xd8\xff") and opened(result).format == "JPEG"
    assert result.sha256 == hashlib.sha256(result.data).hexdigest()
    assert opened(result).info.get("progressive") == 1
    with pytest.raises(AttributeError):
        result.width = 1  # type: ignore[misc]
    webp = optimise(encode(Image.new("RGB", (50, 40), BLUE), "PNG"), output="webp", quality=60)
    assert (webp.content_type, webp.extension, opened(webp).format) == ("image/webp", "webp", "WEBP")


def test_bad_arguments_are_value_errors_not_rejections() -> None:
    data = encode(Image.new("RGB", (4, 4)), "PNG")
    for kwargs in ({"output": "gif"}, {"quality": 0}, {"max_edge": 0}):
        with pytest.raises(ValueError):
            optimise(data, **kwargs)


# --------------------------------------------------------------------------- transparency and modes


def half_transparent() -> Image.Image:
    image = Image.new("RGBA", (40, 40), (*RED, 255))
    image.paste((*BLUE, 0), (0, 0, 20, 40))  # left half fully transparent, its colour blue
    return image


def test_alpha_is_kept_as_png_for_jpeg_output() -> None:
    result = optimise(encode(half_transparent(), "PNG"))
    assert (result.content_type, result.extension) == ("image/png", "png")
    image = opened(result)
    assert image.mode == "RGBA"
    assert image.getpixel((5, 5))[3] == 0 and image.getpixel((35, 5)) == (*RED, 255)


def test_alpha_is_kept_in_webp() -> None:
    result = optimise(encode(half_transparent(), "PNG"), output="webp")
    image = opened(result)
    assert result.content_type == "image/webp" and image.mode == "RGBA"
    assert image.getpixel((5, 5))[3] == 0 and near(image.getpixel((35, 5)), (*RED, 255))


def test_palette_transparency_is_kept_and_an_unused_alpha_channel_dropped() -> None:
    palette = Image.new("P", (20, 20), 1)
    palette.putpalette([0, 0, 0, *RED] + [0] * 762)
    palette.paste(0, (0, 0, 10, 20))
    gif = optimise(encode(palette, "GIF", transparency=0))
    assert gif.content_type == "image/png"
    assert opened(gif).getpixel((2, 2))[3] == 0 and opened(gif).getpixel((15, 2)) == (*RED, 255)
    opaque = optimise(encode(Image.new("RGBA", (20, 20), (*RED, 255)), "PNG"))
    assert opaque.content_type == "image/jpeg" and opened(opaque).mode == "RGB"


@pytest.mark.parametrize(
    ("mode", "colour", "expected"),
    [
        ("CMYK", (0, 255, 255, 0), (255, 0, 0)),
        ("L", 90, (90, 90, 90)),
        ("1", 1, (255, 255, 255)),
        ("P", 0, (0, 0, 0)),
    ],
)
def test_other_modes_become_rgb(mode: str, colour, expected: tuple[int, int, int]) -> None:
    kind = "JPEG" if mode in ("CMYK", "L") else "PNG"
    result = optimise(encode(Image.new(mode, (16, 16), colour), kind))
    image = opened(result)
    assert result.content_type == "image/jpeg" and image.mode == "RGB"
    assert near(image.getpixel((8, 8)), expected, tolerance=12)


def test_16_bit_grey_is_scaled_not_clipped() -> None:
    result = optimise(encode(Image.new("I;16", (16, 16), 40000), "PNG"))
    assert near(opened(result).getpixel((8, 8)), (156, 156, 156), tolerance=3)  # 40000 / 257; a clip gives 255


def test_animated_gif_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (24, 24), colour).convert("P") for colour in (RED, BLUE)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    assert near(opened(optimise(data)).getpixel((12, 12)), RED)


# --------------------------------------------------------------------------- bad bytes


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"hello, this is a text file\n", "not an image"),
        (b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n", "not an image"),
        (b"\xff\xd8\xff", "starts like a JPEG but its header is corrupt"),
    ],
)
def test_empty_text_pdf_and_bare_signatures_are_rejected(data: bytes, reason: str) -> None:
    with pytest.raises(ImageRejected) as caught:
        optimise(data)
    assert reason in caught.value.reason and str(caught.value) == caught.value.reason


def test_truncated_jpeg_is_rejected_even_with_pillows_truncation_switch_on(monkeypatch) -> None:
    jpeg = encode(halves((400, 300), RED, BLUE), "JPEG", quality=90)
    truncated = jpeg[: len(jpeg) // 2]
    with pytest.raises(ImageRejected, match="truncated"):
        optimise(truncated)
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)  # as some other library might
    Image.open(io.BytesIO(truncated)).load()  # Pillow alone now half-decodes it silently
    with pytest.raises(ImageRejected, match="ends before the image data"):
        optimise(truncated)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # and the process-wide switch was left alone
    assert optimise(jpeg).width == 400  # a whole file still passes with the switch on


def test_truncated_and_corrupt_pngs_are_rejected() -> None:
    png = encode(halves((300, 200), RED, BLUE).effect_spread(5), "PNG")
    with pytest.raises(ImageRejected, match="truncated"):
        optimise(png[: len(png) * 2 // 3])
    idat = png.index(b"IDAT") + 4
    corrupt = png[: idat + 50] + b"\xff" * 64 + png[idat + 114:]
    with pytest.raises(ImageRejected, match="corrupt"):
        optimise(corrupt)
    broken_header = png[:30] + bytes([png[30] ^ 0xFF]) + png[31:]  # IHDR's CRC no longer matches
    with pytest.raises(ImageRejected, match="starts like a PNG but its header is corrupt"):
        optimise(broken_header)


def test_mangled_images_only_ever_raise_image_rejected() -> None:
    """Deterministic fuzzing: whatever Pillow trips over must come out as ImageRejected."""
    sources = [
        encode(halves((60, 40), RED, BLUE), "JPEG"),
        encode(halves((60, 40), RED, BLUE), "JPEG", progressive=True),
        encode(half_transparent(), "PNG"),
        encode(halves((60, 40), RED, BLUE).convert("P"), "GIF"),
        encode(halves((60, 40), RED, BLUE), "BMP"),
        encode(half_transparent(), "WEBP"),
    ]
    rng = random.Random(20240611)
    outcomes = {"ok": 0, "rejected": 0}
    for _ in range(600):
        data = bytearray(rng.choice(sources))
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(len(data))
            if rng.random() < 0.6:
                data[at] = rng.randrange(256)
            else:
                del data[at : at + rng.randint(1, 40)]
        try:
            optimise(bytes(data), max_edge=32)
            outcomes["ok"] += 1
        except ImageRejected:
            outcomes["rejected"] += 1
    assert outcomes["rejected"] > 100 and outcomes["ok"] > 0


# --------------------------------------------------------------------------- huge images


# Pillow warns about any header over 89 megapixels when it opens the file, before our own limit applies.
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_huge_png_is_rejected_from_its_header() -> None:
    with pytest.raises(ImageRejected) as caught:
        optimise(png_header(12_000, 12_000))
    assert "12000x12000" in caught.value.reason and "144 megapixels" in caught.value.reason


def test_decompression_bombs_are_rejected() -> None:
    with pytest.raises(ImageRejected, match="too large to decode safely"):
        optimise(png_header(20_000, 20_000), max_source_pixels=10**9)  # past Pillow's own ceiling


def test_a_big_jpeg_is_drafted_only_as_far_as_the_output_allows() -> None:
    data = encode(halves((3000, 3000), RED, BLUE), "JPEG", quality=80)
    drafted = optimise(data, max_edge=1000, max_source_pixels=5_000_000)  # decoded at 1/2: 2.25 megapixels
    assert (drafted.width, drafted.height) == (1000, 1000)
    assert near(opened(drafted).getpixel((100, 500)), RED) and near(opened(drafted).getpixel((900, 500)), BLUE)
    with pytest.raises(ImageRejected, match="3000x3000 pixels, still over 1 megapixels"):
        optimise(data, max_edge=2048, max_source_pixels=1_000_000)  # a 2048 output leaves no room to cut


MEASURE = """
import json, resource, sys
from app.images.optimize import optimise
data = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = optimise(data)
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"size": [result.width, result.height], "type": result.content_type, "grown_kib": grown}))
"""


def test_huge_jpeg_is_decoded_at_reduced_scale_in_bounded_memory(tmp_path: Path) -> None:
    """12,000 x 12,000: a full RGB decode needs over 430 MB (Pillow stores RGB in 4 bytes a
    pixel: 576 MB). Made and measured in fresh processes, so the peak is this call's alone."""
    path = tmp_path / "huge.jpg"
    make = f"from PIL import Image; Image.new('RGB', (12000, 12000), (30, 120, 200)).save({str(path)!r}, quality=50)"
    subprocess.run([sys.executable, "-c", make], check=True, timeout=60)
    run = subprocess.run([sys.executable, "-c", MEASURE, str(path)], cwd=ROOT, check=True, timeout=60,
                         capture_output=True, text=True)
    measured = json.loads(run.stdout)
    assert measured["size"] == [2048, 2048] and measured["type"] == "image/jpeg"
    assert measured["grown_kib"] < 150 * 1024, measured
