"""What an uploaded file may become a document: recognised by its content (never by its name
or the browser's type), parsed by a real parser, and rewritten so nothing but the document
itself is kept.

- JPEG and PNG are decoded (within a pixel limit that stops decompression bombs) and encoded
  anew: EXIF (GPS position, camera serial), XMP, comments and text chunks do not survive; a
  photo's orientation is applied to the pixels first, so it still stands upright.
- PDF is opened with PDFium and saved anew as a full copy: a broken or encrypted PDF is
  refused, and whatever trails a PDF (a polyglot's second payload) is left behind.
- Several photos of one paper document become one PDF, a photo to an A4 page.

Every refusal is an `IntakeError` with a code the API turns into a message in the user's
language. Work here is CPU-bound: the web layer runs it in a thread.
"""

from __future__ import annotations

import io
import re
import unicodedata
import warnings
from dataclasses import dataclass
from enum import StrEnum

import img2pdf
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_FILE = 15 * 1024 * 1024  # bytes, an upload and the document it becomes
MAX_PIXELS = 50_000_000  # per image: a 48-megapixel phone photo passes, a bomb does not
MAX_SIDE = 3508  # photos are scaled down to this longest side (A4 at 300 dpi)
MAX_PHOTOS = 20  # photos that become one PDF
MAX_PAGES = 300
MAX_TITLE = 200
JPEG_QUALITY = 85

PDF_MAGIC = b"%PDF-"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
A4 = (img2pdf.mm_to_pt(210), img2pdf.mm_to_pt(297))


class Refusal(StrEnum):
    UNSUPPORTED = "unsupported_type"  # not PDF, PNG or JPEG by content
    BROKEN = "broken_file"  # looks like one, does not parse
    ENCRYPTED = "encrypted_pdf"
    TOO_LARGE = "file_too_large"
    TOO_MANY_PIXELS = "image_too_large"
    TOO_MANY_PAGES = "too_many_pages"
    TOO_MANY_PHOTOS = "too_many_photos"
    EMPTY = "empty_file"


class IntakeError(ValueError):
    def __init__(self, refusal: Refusal, detail: str) -> None:
        super().__init__(detail)
        self.refusal = refusal


class Kind(StrEnum):
    """What a document is, for the jobseeker and the caseworker."""

    CV = "cv"
    CERTIFICATE = "certificate"
    REFERENCE = "reference"
    OTHER = "other"


@dataclass(frozen=True)
class Clean:
    """A document as it will be stored: rewritten bytes, their media type and page count."""

    data: bytes
    media_type: str  # application/pdf, image/png or image/jpeg
    pages: int


def sniff(head: bytes) -> str | None:
    """The media type by the first bytes, or None."""
    if head.startswith(PDF_MAGIC):
        return "application/pdf"
    if head.startswith(PNG_MAGIC):
        return "image/png"
    if head.startswith(JPEG_MAGIC):
        return "image/jpeg"
    return None


def clean(data: bytes) -> Clean:
    """The upload as a document, or `IntakeError`."""
    if not data:
        raise IntakeError(Refusal.EMPTY, "the file is empty")
    if len(data) > MAX_FILE:
        raise IntakeError(Refusal.TOO_LARGE, f"the file is larger than {MAX_FILE} bytes")
    media_type = sniff(data[:16])
    if media_type == "application/pdf":
        return _clean_pdf(data)
    if media_type in ("image/png", "image/jpeg"):
        image = _decode(data, media_type)
        out = _encode(image, "PNG" if media_type == "image/png" else "JPEG")
        return _sized(Clean(out, media_type, 1))
    raise IntakeError(Refusal.UNSUPPORTED, "only PDF, PNG and JPEG files are accepted")


def photos_to_pdf(photos: list[bytes]) -> Clean:
    """Photos of the pages of one paper document, in order, as one PDF of A4 pages."""
    if not photos:
        raise IntakeError(Refusal.EMPTY, "no photos")
    if len(photos) > MAX_PHOTOS:
        raise IntakeError(Refusal.TOO_MANY_PHOTOS, f"at most {MAX_PHOTOS} photos")
    pages: list[bytes] = []
    for data in photos:
        if len(data) > MAX_FILE:
            raise IntakeError(Refusal.TOO_LARGE, f"a photo is larger than {MAX_FILE} bytes")
        media_type = sniff(data[:16])
        if media_type not in ("image/png", "image/jpeg"):
            raise IntakeError(Refusal.UNSUPPORTED, "photos must be JPEG or PNG")
        image = _decode(data, media_type)
        image.thumbnail((MAX_SIDE, MAX_SIDE))
        pages.append(_encode(image, "JPEG"))
    layout = img2pdf.get_layout_fun(A4, fit=img2pdf.FitMode.into)
    pdf = img2pdf.convert(pages, layout_fun=layout, nodate=True)
    assert pdf is not None
    return _sized(Clean(pdf, "application/pdf", len(pages)))


def _sized(document: Clean) -> Clean:
    if len(document.data) > MAX_FILE:
        raise IntakeError(Refusal.TOO_LARGE, "the document is too large")
    return document


def _decode(data: bytes, media_type: str) -> Image.Image:
    fmt = "PNG" if media_type == "image/png" else "JPEG"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[fmt])
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise IntakeError(Refusal.TOO_MANY_PIXELS, f"{width}x{height} is too many pixels")
            image.load()
    except IntakeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise IntakeError(Refusal.TOO_MANY_PIXELS, "the image is too large") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise IntakeError(Refusal.BROKEN, f"the image does not decode: {exc}") from None
    # The pixels as they should be seen; then no EXIF is needed (or kept).
    upright = ImageOps.exif_transpose(image)
    return upright if upright is not None else image


def _encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    # Pillow carries some of what it read into what it writes (a JPEG comment, an ICC profile,
    # PNG text): keep nothing but a palette's transparency.
    image.info = {k: v for k, v in image.info.items() if k == "transparency"}
    if fmt == "JPEG":
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    else:
        if image.mode not in ("1", "L", "LA", "P", "RGB", "RGBA"):
            image = image.convert("RGBA")
        image.save(out, "PNG", optimize=True)
    return out.getvalue()


def _clean_pdf(data: bytes) -> Clean:
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise IntakeError(Refusal.ENCRYPTED, "the PDF is protected by a password") from None
        raise IntakeError(Refusal.BROKEN, "the PDF does not open") from None
    try:
        if pdfium_c.FPDF_GetSecurityHandlerRevision(pdf.raw) != -1:
            # Opens without a password but is encrypted (an owner password, restrictions):
            # it cannot be shown page by page to others as the jobseeker meant.
            raise IntakeError(Refusal.ENCRYPTED, "the PDF is encrypted")
        pages = len(pdf)
        if pages == 0:
            raise IntakeError(Refusal.BROKEN, "the PDF has no pages")
        if pages > MAX_PAGES:
            raise IntakeError(Refusal.TOO_MANY_PAGES, f"at most {MAX_PAGES} pages")
        out = io.BytesIO()
        pdf.save(out, flags=pdfium_c.FPDF_NO_INCREMENTAL)
    except pdfium.PdfiumError:
        raise IntakeError(Refusal.BROKEN, "the PDF cannot be read") from None
    finally:
        pdf.close()
    return _sized(Clean(out.getvalue(), "application/pdf", pages))


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def clean_title(title: str) -> str:
    """A document title as people may name it, without control and direction-override
    characters (which could disguise a name), trimmed to `MAX_TITLE`."""
    text = _CONTROL.sub("", unicodedata.normalize("NFC", title)).strip()
    return text[:MAX_TITLE]
