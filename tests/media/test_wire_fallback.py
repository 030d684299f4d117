"""Where `pip install` found no C compiler the C module is missing: the media tests of calls
and of the RTP path pass on the pure-Python path alone (run in a child process in which
importing `mediaserver.rtp._wire` fails)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.media, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import sys
sys.modules["mediaserver.rtp._wire"] = None  # as if it had not been built
from mediaserver.rtp import wire
from mediaserver.rtp.downtrack import DownTrack
from mediaserver.rtp.forwarder import RtpForwarder
assert not wire.BUILT and not wire.compiled()
assert wire.Lane is wire.PyLane and wire.Stream is wire.PyStream
import pytest
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "-p", "no:xdist", *sys.argv[1:]]))
"""


def test_calls_work_without_the_c_module() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            "tests/media/test_call.py",
            "tests/media/test_rtp_units.py",
            "tests/media/test_simulcast_units.py",
            "tests/media/test_rtp_loss.py",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and " failed" not in result.stdout
