"""Forwarding without decoding: relayed frames are byte-identical; no codec runs in the SFU."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import pytest
from aiortc.codecs import h264, opus, vpx

from tests.media.conftest import Sfu
from testsupport import encoded
from testsupport.client import ClientMedia, SyntheticClient
from testsupport.wait import wait_for

pytestmark = [pytest.mark.media, pytest.mark.timeout(40)]

CODEC_CALLS = [
    (vpx.Vp8Decoder, "decode"),
    (opus.OpusDecoder, "decode"),
    (h264.H264Decoder, "decode"),
    (vpx.Vp8Encoder, "encode"),
    (opus.OpusEncoder, "encode"),
    (h264.H264Encoder, "encode"),
    (vpx.Vp8Decoder, "__init__"),
    (opus.OpusDecoder, "__init__"),
    (h264.H264Decoder, "__init__"),
]


@pytest.fixture
def codec_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Counts every call of aiortc's decoders and encoders in this process."""
    calls: Counter[str] = Counter()
    for cls, name in CODEC_CALLS:
        original = getattr(cls, name)

        def spy(
            self: object,
            *args: object,
            _o: object = original,
            _n: str = f"{cls.__name__}.{name}",
            **kwargs: object,
        ) -> object:
            calls[_n] += 1
            return _o(self, *args, **kwargs)  # type: ignore[operator]

        monkeypatch.setattr(cls, name, spy)
    yield calls


async def test_relayed_frames_are_byte_identical_and_never_transcoded(
    sfu: Sfu, codec_calls: Counter[str]
) -> None:
    # Raw clients publish packets encoded by PyAV directly and receive encoded frames, so any
    # aiortc codec call in this process would be the server's.
    media = ClientMedia(raw=True)
    alice, bob, carol = (
        SyntheticClient(sfu.bus, "w1", "room", n, media=media) for n in ("alice", "bob", "carol")
    )
    try:
        await asyncio.gather(alice.join(), bob.join(), carol.join())
        for me, other in ((bob, alice), (carol, alice), (alice, bob)):
            await wait_for(
                lambda me=me, o=other: (
                    me.frames(o.id, "video") >= 30 and me.frames(o.id, "audio") >= 30
                ),
                f"{me.id} to get 30 video and audio frames from {other.id}",
            )
        for me, other in ((bob, alice), (carol, alice), (alice, bob)):
            assert other.video_loop is not None and other.audio_loop is not None
            video = me.received[(other.id, "video")]
            audio = me.received[(other.id, "audio")]
            assert set(video.digests) <= other.video_loop.digests
            assert set(audio.digests) <= other.audio_loop.digests
            assert len(set(video.digests)) >= 20  # distinct frames, not one repeated
            assert video.keyframes >= 1
        assert sum(codec_calls.values()) == 0, dict(codec_calls)
    finally:
        await asyncio.gather(alice.leave(), bob.leave(), carol.leave())


def test_keyframe_flags_follow_the_codec_headers() -> None:
    assert encoded.is_keyframe("video/VP8", b"\x10\x02\x00\x9d\x01\x2a")
    assert not encoded.is_keyframe("video/VP8", b"\x11\x02\x00")
    assert not encoded.is_keyframe("video/VP8", b"")
    idr = b"\x00\x00\x00\x01\x67\x42\x00\x00\x00\x01\x68\xce\x00\x00\x00\x01\x65\x88"
    assert encoded.is_keyframe("video/H264", idr)
    assert not encoded.is_keyframe("video/H264", b"\x00\x00\x00\x01\x41\x9a")
    assert encoded.is_keyframe("audio/opus", b"\xfc")
