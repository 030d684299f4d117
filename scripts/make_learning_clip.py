"""Draw the short clip of the "video-interview" module (light, camera height, background):
four wordless pictures of a person at a tablet, four seconds each, as VP8 WebM. The words
are in the WebVTT captions next to it, one file per language, so the clip needs no
translation. Run from the repository: `python scripts/make_learning_clip.py`."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

W, H, FPS, SECONDS = 480, 270, 10, 4
OUT = Path(__file__).resolve().parent.parent / "web/elearning/modules/video-interview/media"
WALL, SKIN, SHIRT, DARK = (226, 220, 206), (224, 172, 128), (40, 92, 160), (70, 62, 58)


def person(draw: ImageDraw.ImageDraw, x: int, y: int, face: tuple[int, int, int]) -> None:
    draw.ellipse((x - 38, y - 95, x + 38, y - 5), fill=face)  # head
    draw.rounded_rectangle((x - 80, y, x + 80, y + 140), radius=40, fill=SHIRT)  # shoulders


def window(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int]) -> None:
    draw.rectangle(box, fill=(255, 255, 240), outline=(150, 150, 150), width=6)
    x0, y0, x1, y1 = box
    draw.line(((x0 + x1) // 2, y0, (x0 + x1) // 2, y1), fill=(150, 150, 150), width=4)


def backlight() -> Image.Image:
    """A bright window behind the person: the face is dark."""
    image = Image.new("RGB", (W, H), WALL)
    draw = ImageDraw.Draw(image)
    window(draw, (150, 20, 330, 200))
    person(draw, 240, 190, DARK)
    return image


def front_light() -> Image.Image:
    """The window behind the camera: the face is lit."""
    image = Image.new("RGB", (W, H), (245, 240, 228))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 200, W, H), fill=(200, 190, 170))
    person(draw, 240, 170, SKIN)
    draw.polygon([(0, 0), (120, 0), (200, 270), (0, 270)], fill=(255, 250, 225))  # light
    return image


def eye_level() -> Image.Image:
    """A tablet on a pile of books, its camera at the height of the eyes."""
    image = Image.new("RGB", (W, H), WALL)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 215, W, H), fill=(160, 120, 80))  # table
    for i, colour in enumerate(((180, 60, 50), (60, 120, 70), (50, 80, 150))):
        draw.rectangle((300, 215 - 25 * (i + 1), 420, 215 - 25 * i), fill=colour)
    draw.rounded_rectangle((320, 60, 400, 140), radius=8, fill=(30, 30, 30))  # tablet
    draw.ellipse((355, 66, 365, 76), fill=(90, 200, 90))  # its camera
    person(draw, 140, 160, SKIN)
    draw.line((178, 115, 355, 71), fill=(90, 200, 90), width=3)  # the line of sight
    return image


def calm_background() -> Image.Image:
    """A plain wall and a tidy shelf behind the person."""
    image = Image.new("RGB", (W, H), WALL)
    draw = ImageDraw.Draw(image)
    draw.rectangle((40, 60, 200, 70), fill=(150, 110, 70))
    for i in range(5):
        draw.rectangle((50 + i * 24, 20, 68 + i * 24, 60), fill=(90 + i * 25, 100, 140))
    person(draw, 300, 180, SKIN)
    return image


CAPTIONS = {
    "de": [
        "Ein helles Fenster hinter Ihnen macht Ihr Gesicht dunkel.",
        "Besser: Setzen Sie sich mit dem Gesicht zum Fenster.",
        "Stellen Sie das Tablet auf Bücher: Die Kamera ist dann auf Augenhöhe.",
        "Im Hintergrund: eine ruhige Wand oder ein aufgeräumtes Regal.",
    ],
    "en": [
        "A bright window behind you makes your face dark.",
        "Better: sit facing the window.",
        "Put the tablet on a pile of books: the camera is then at eye level.",
        "In the background: a plain wall or a tidy shelf.",
    ],
}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    pictures = [backlight(), front_light(), eye_level(), calm_background()]
    with av.open(str(OUT / "light-and-camera.webm"), "w", format="webm") as container:
        stream = container.add_stream("libvpx", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.bit_rate = 150_000
        pts = 0
        for picture in pictures:
            data = np.asarray(picture)
            for _ in range(FPS * SECONDS):
                frame = av.VideoFrame.from_ndarray(data, format="rgb24")
                frame.pts, frame.time_base = pts, Fraction(1, FPS)
                pts += 1
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    for lang, lines in CAPTIONS.items():
        cues = [
            f"{i + 1}\n00:{i * SECONDS:02d}.000 --> 00:{(i + 1) * SECONDS:02d}.000\n{line}\n"
            for i, line in enumerate(lines)
        ]
        text = "WEBVTT\n\n" + "\n".join(cues)
        (OUT / f"light-and-camera.{lang}.vtt").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
