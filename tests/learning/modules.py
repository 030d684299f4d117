"""Module folders for tests: a small valid module (page, video, quiz) and a tiny WebM clip
made with PyAV, so that the video section type is exercised without a recorded video."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

MANIFEST = """
id = "{id}"
version = "1.0"
languages = ["de", "en"]
minutes = 5
pass_score = 0.5
title = {{ de = "Testmodul", en = "Test module", ar = "وحدة تجريبية" }}
summary = {{ de = "Zum Testen", en = "For testing" }}

[[sections]]
id = "intro"
type = "page"
title = {{ de = "Einführung", en = "Introduction" }}
body = {{ de = "de.md", en = "en.md" }}

[[sections]]
id = "clip"
type = "video"
title = {{ de = "Film", en = "Clip" }}
video = "media/clip.webm"
captions = {{ de = "media/clip.de.vtt", en = "media/clip.en.vtt" }}

[[sections]]
id = "quiz"
type = "quiz"
title = {{ de = "Quiz", en = "Quiz" }}

[[sections.questions]]
id = "q1"
kind = "single"
prompt = {{ de = "Eins oder zwei?", en = "One or two?" }}

[[sections.questions.choices]]
id = "one"
correct = true
text = {{ de = "Eins", en = "One" }}
feedback = {{ de = "Richtig, eins.", en = "Right, one." }}

[[sections.questions.choices]]
id = "two"
correct = false
text = {{ de = "Zwei", en = "Two" }}
feedback = {{ de = "Nein, nicht zwei.", en = "No, not two." }}

[[sections.questions]]
id = "q2"
kind = "multiple"
prompt = {{ de = "Welche sind Farben?", en = "Which are colours?" }}

[[sections.questions.choices]]
id = "red"
correct = true
text = {{ de = "Rot", en = "Red" }}
feedback = {{ de = "Ja, Rot.", en = "Yes, red." }}

[[sections.questions.choices]]
id = "blue"
correct = true
text = {{ de = "Blau", en = "Blue" }}
feedback = {{ de = "Ja, Blau.", en = "Yes, blue." }}

[[sections.questions.choices]]
id = "chair"
correct = false
text = {{ de = "Stuhl", en = "Chair" }}
feedback = {{ de = "Ein Stuhl ist keine Farbe.", en = "A chair is not a colour." }}
"""

VTT = "WEBVTT\n\n00:00.000 --> 00:01.000\n{text}\n"


def tiny_webm(path: Path, frames: int = 12) -> None:
    """A half-second VP8 clip of a few coloured frames (64x48)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="webm") as container:
        stream = container.add_stream("libvpx", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            image = np.full((48, 64, 3), (i * 20) % 255, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 24)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_module(folder: Path, module_id: str = "test-module", manifest: str = MANIFEST) -> Path:
    """A valid module in `folder` (with page files, a clip and its captions)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "module.toml").write_text(manifest.format(id=module_id), encoding="utf-8")
    (folder / "de.md").write_text("### Hallo\n\nErste Seite.\n", encoding="utf-8")
    (folder / "en.md").write_text("### Hello\n\nFirst page.\n", encoding="utf-8")
    tiny_webm(folder / "media" / "clip.webm")
    for lang, text in (("de", "Hallo"), ("en", "Hello")):
        (folder / "media" / f"clip.{lang}.vtt").write_text(VTT.format(text=text), "utf-8")
    return folder
