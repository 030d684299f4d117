"""Pages rendered on the server for the call's panel."""

from __future__ import annotations

import io

import pypdfium2 as pdfium
import pytest
from PIL import Image

from core.documents import intake
from core.documents.render import MAX_WIDTH, RenderError, page_count, render_page
from tests.documents.test_intake import pdf, photo, png


def marked_pdf() -> bytes:
    """Two A4 pages; the second has a black box in its top-left quarter."""
    document = pdfium.PdfDocument.new()
    document.new_page(595, 842)
    second = document.new_page(595, 842)
    box = pdfium.raw.FPDFPageObj_CreateNewRect(0, 421, 297, 421)
    pdfium.raw.FPDFPageObj_SetFillColor(box, 0, 0, 0, 255)
    pdfium.raw.FPDFPath_SetDrawMode(box, pdfium.raw.FPDF_FILLMODE_ALTERNATE, False)
    pdfium.raw.FPDFPage_InsertObject(second.raw, box)
    assert pdfium.raw.FPDFPage_GenerateContent(second.raw)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_each_page_of_a_pdf_renders_as_its_own_image() -> None:
    data = intake.clean(marked_pdf()).data
    assert page_count(data, "application/pdf") == 2
    first = render_page(data, "application/pdf", 1, width=600)
    second = render_page(data, "application/pdf", 2, width=600)
    assert (first.width, first.pages) == (600, 2) and abs(first.height - 849) <= 1
    images = [Image.open(io.BytesIO(p.data)).convert("L") for p in (first, second)]
    assert images[0].getpixel((100, 100)) > 200  # page 1 is blank
    assert images[1].getpixel((100, 100)) < 50  # page 2 has the box at the top left
    assert images[1].getpixel((500, 700)) > 200
    assert Image.open(io.BytesIO(first.data)).format == "WEBP"


def test_images_render_as_one_page_and_widths_are_clamped() -> None:
    page = render_page(intake.clean(photo((3000, 2000))).data, "image/jpeg", 1, width=99_999)
    assert (page.width, page.height, page.pages) == (MAX_WIDTH, 1067, 1)
    assert render_page(intake.clean(png()).data, "image/png", 1).pages == 1


@pytest.mark.parametrize(
    ("media_type", "number"),
    [("application/pdf", 0), ("application/pdf", 3), ("image/png", 2), ("text/html", 1)],
)
def test_pages_that_do_not_exist_are_refused(media_type: str, number: int) -> None:
    data = pdf(2) if media_type == "application/pdf" else png()
    with pytest.raises(RenderError):
        render_page(data, media_type, number)
