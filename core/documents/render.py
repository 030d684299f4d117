"""Pages of a document as images, for the call's panel: rendered on the server, so that every
participant (an iPad, a phone) sees the same page without a PDF viewer, and nobody but the
owner and caseworkers is ever handed the original file.

PDFium renders without running a document's JavaScript or forms (pypdfium2 does not set up
the form environment unless asked), so a hostile PDF gets no script run anywhere.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pypdfium2 as pdfium
from PIL import Image

MAX_WIDTH = 1600  # pixels of a rendered page: sharp on a tablet, small enough to send often
MIN_WIDTH = 200
WEBP_QUALITY = 80


class RenderError(ValueError):
    """A page that does not exist, or a document that cannot be rendered."""


@dataclass(frozen=True)
class Page:
    data: bytes  # image/webp
    width: int
    height: int
    pages: int  # how many pages the document has


def page_count(data: bytes, media_type: str) -> int:
    if media_type != "application/pdf":
        return 1
    pdf = pdfium.PdfDocument(data)
    try:
        return len(pdf)
    finally:
        pdf.close()


def render_page(data: bytes, media_type: str, number: int, width: int = 1200) -> Page:
    """Page `number` (1-based) as a WebP image `width` pixels wide (clamped to the limits)."""
    width = max(MIN_WIDTH, min(MAX_WIDTH, width))
    if media_type == "application/pdf":
        image, pages = _pdf_page(data, number, width)
    elif media_type in ("image/png", "image/jpeg"):
        if number != 1:
            raise RenderError("an image has one page")
        image, pages = Image.open(io.BytesIO(data)), 1
        image.load()
        if image.width > width:
            image = image.resize((width, round(image.height * width / image.width)))
    else:
        raise RenderError(f"cannot render {media_type}")
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert(
            "RGBA" if "A" in image.mode or "transparency" in image.info else "RGB"
        )
    out = io.BytesIO()
    image.save(out, "WEBP", quality=WEBP_QUALITY)
    return Page(out.getvalue(), image.width, image.height, pages)


def _pdf_page(data: bytes, number: int, width: int) -> tuple[Image.Image, int]:
    pdf = pdfium.PdfDocument(data)
    try:
        pages = len(pdf)
        if not 1 <= number <= pages:
            raise RenderError(f"page {number} of {pages} does not exist")
        page = pdf[number - 1]
        try:
            page_width, _ = page.get_size()
            bitmap = page.render(scale=width / page_width, may_draw_forms=False)
            image = bitmap.to_pil()
            if image.width != width:  # PDFium rounds the scaled size: one pixel either way
                image = image.resize((width, round(image.height * width / image.width)))
            return image, pages
        finally:
            page.close()
    except pdfium.PdfiumError:
        raise RenderError("the document cannot be rendered") from None
    finally:
        pdf.close()
