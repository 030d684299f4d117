"""What an upload may become: recognised by content, parsed for real, rewritten clean."""

from __future__ import annotations

import io
import struct
import zlib

import pypdfium2 as pdfium
import pytest
from PIL import Image

from core.documents import intake
from core.documents.intake import IntakeError, Refusal, clean, clean_title, photos_to_pdf

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def photo(size: tuple[int, int] = (64, 48), *, gps: bool = False, rotated: bool = False) -> bytes:
    """A JPEG as a phone takes it: with EXIF (a GPS position, a camera) when asked."""
    image = Image.new("RGB", size, (200, 30, 30))
    for x in range(size[0] // 2):  # the left half blue, to see the orientation
        for y in range(size[1]):
            image.putpixel((x, y), (20, 20, 220))
    exif = Image.Exif()
    exif[0x010F] = "Phonemaker"
    exif[0x0110] = "Model X serial 12345"
    if gps:
        exif[GPS_IFD] = {1: "N", 2: (52.0, 1.0, 30.0), 3: "E", 4: (8.0, 52.0, 10.0)}
    if rotated:
        exif[ORIENTATION] = 6  # the camera was held upright: turn 90 degrees to show
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, comment=b"Frau Becker, Zeugnis")
    return out.getvalue()


def png(size: tuple[int, int] = (40, 30), *, text: bool = False) -> bytes:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    if text:
        info.add_text("Author", "Frau Becker")
    out = io.BytesIO()
    Image.new("RGBA", size, (0, 128, 0, 255)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def pdf(pages: int = 2) -> bytes:
    document = pdfium.PdfDocument.new()
    for _ in range(pages):
        document.new_page(595, 842)
    out = io.BytesIO()
    document.save(out)
    document.close()
    return out.getvalue()


def encrypted_pdf() -> bytes:
    """A PDF whose standard security handler wants a user password (RC4, revision 2)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
        b"<< /Filter /Standard /V 1 /R 2 /O <"
        + b"11" * 32
        + b"> /U <"
        + b"22" * 32
        + b"> /P -44 >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += (
        b"trailer\n<< /Size %d /Root 1 0 R /Encrypt 4 0 R /ID [<%s> <%s>] >>\n"
        % (len(objects) + 1, b"ab" * 16, b"ab" * 16)
        + b"startxref\n%d\n%%%%EOF\n" % xref
    )
    return bytes(out)


def exif_of(data: bytes) -> Image.Exif:
    return Image.open(io.BytesIO(data)).getexif()


def test_a_photo_loses_its_gps_position_and_camera_but_stands_upright() -> None:
    original = photo((64, 48), gps=True, rotated=True)
    assert GPS_IFD in exif_of(original) and b"Frau Becker" in original
    result = clean(original)
    assert result.media_type == "image/jpeg" and result.pages == 1
    assert len(exif_of(result.data)) == 0
    assert b"Phonemaker" not in result.data and b"Frau Becker" not in result.data
    shown = Image.open(io.BytesIO(result.data))
    assert shown.size == (48, 64)  # turned as the orientation said
    top, bottom = shown.getpixel((24, 2)), shown.getpixel((24, 61))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[2] > 150 and bottom[0] > 150  # the blue half is on top after the turn


def test_a_png_loses_its_text_chunks() -> None:
    result = clean(png(text=True))
    assert result.media_type == "image/png"
    assert b"Frau Becker" not in result.data and b"tEXt" not in result.data


def test_a_pdf_is_saved_anew_and_a_trailing_payload_is_left_behind() -> None:
    original = pdf(3) + b"\n<html><script>alert(1)</script></html>"
    result = clean(original)
    assert result.media_type == "application/pdf" and result.pages == 3
    assert b"<script>" not in result.data
    assert len(pdfium.PdfDocument(result.data)) == 3


@pytest.mark.parametrize(
    ("data", "refusal"),
    [
        (b"", Refusal.EMPTY),
        (b"GIF89a" + b"\0" * 100, Refusal.UNSUPPORTED),
        (b"<html><body>hello</body></html>", Refusal.UNSUPPORTED),
        (b"PK\x03\x04" + b"\0" * 100, Refusal.UNSUPPORTED),  # a .docx or a zip
        (b"  %PDF-1.4 leading space", Refusal.UNSUPPORTED),
        (b"%PDF-1.7\nnot really a pdf", Refusal.BROKEN),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 50, Refusal.BROKEN),
        (b"\xff\xd8\xff\xe0" + b"\0" * 50, Refusal.BROKEN),
    ],
    ids=["empty", "gif", "html", "zip", "late-magic", "bad-pdf", "bad-png", "bad-jpeg"],
)
def test_files_that_are_not_documents_are_refused(data: bytes, refusal: Refusal) -> None:
    with pytest.raises(IntakeError) as caught:
        clean(data)
    assert caught.value.refusal is refusal


def test_a_truncated_photo_and_a_truncated_pdf_are_refused() -> None:
    with pytest.raises(IntakeError) as caught:
        clean(photo((300, 200))[:-400])
    assert caught.value.refusal is Refusal.BROKEN
    whole = pdf(2)
    with pytest.raises(IntakeError) as caught:
        clean(whole[: len(whole) // 3])
    assert caught.value.refusal is Refusal.BROKEN


def test_an_encrypted_pdf_is_refused() -> None:
    with pytest.raises(IntakeError) as caught:
        clean(encrypted_pdf())
    assert caught.value.refusal is Refusal.ENCRYPTED


def test_a_pdf_named_png_is_still_a_pdf_and_a_polyglot_is_only_what_it_starts_as() -> None:
    # Names and browser types are never asked: the content decides.
    assert clean(pdf(1)).media_type == "application/pdf"
    polyglot = photo() + pdf(1)  # a JPEG with a PDF behind it
    result = clean(polyglot)
    assert result.media_type == "image/jpeg" and b"%PDF" not in result.data


def decompression_bomb(width: int, height: int) -> bytes:
    """A PNG of width x height black pixels: a few KB that would decode to gigabytes."""
    packer = zlib.compressobj(1)
    row = b"\0" * (width + 1)  # filter byte and one byte per pixel
    raw = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return intake.PNG_MAGIC + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def test_a_decompression_bomb_is_refused_before_it_is_decoded() -> None:
    bomb = decompression_bomb(12_000, 5_000)  # 60 megapixels
    assert len(bomb) < 1_000_000
    with pytest.raises(IntakeError) as caught:
        clean(bomb)
    assert caught.value.refusal is Refusal.TOO_MANY_PIXELS


def test_size_limits() -> None:
    with pytest.raises(IntakeError) as caught:
        clean(b"%PDF-" + b"\0" * intake.MAX_FILE)
    assert caught.value.refusal is Refusal.TOO_LARGE
    with pytest.raises(IntakeError) as caught:
        photos_to_pdf([photo()] * (intake.MAX_PHOTOS + 1))
    assert caught.value.refusal is Refusal.TOO_MANY_PHOTOS


def test_three_photos_become_one_pdf_of_three_pages_without_exif() -> None:
    result = photos_to_pdf([photo(gps=True), photo((48, 64)), png()])
    assert result.media_type == "application/pdf" and result.pages == 3
    document = pdfium.PdfDocument(result.data)
    assert len(document) == 3
    width, height = document[0].get_size()
    assert (round(width), round(height)) == (595, 842)  # A4
    assert b"Phonemaker" not in result.data and b"Frau Becker" not in result.data
    with pytest.raises(IntakeError) as caught:
        photos_to_pdf([photo(), pdf(1)])
    assert caught.value.refusal is Refusal.UNSUPPORTED


def test_titles_lose_control_and_direction_override_characters() -> None:
    assert clean_title("  Lebenslauf\x00\n ") == "Lebenslauf"
    assert clean_title("cv\u202egpj.exe") == "cvgpj.exe"
    assert clean_title("سيرة ذاتية") == "سيرة ذاتية"
    assert len(clean_title("x" * 1000)) == intake.MAX_TITLE
