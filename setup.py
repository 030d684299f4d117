"""Only the compiled part of the package; everything else is in pyproject.toml.

`mediaserver.rtp._wire` is the SFU's per-packet edge in C (SRTP and sendto), with the uplink
estimator it feeds once per frame (`_remb.c`). It is optional:
where no C compiler is present the install still succeeds and `mediaserver.rtp.wire` uses its
pure-Python version of the same functions.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "mediaserver.rtp._wire",
            sources=["mediaserver/rtp/_wire.c", "mediaserver/rtp/_remb.c"],
            depends=["mediaserver/rtp/_remb.h"],
            # No fused multiply-add: the estimator must round as aiortc's Python does.
            extra_compile_args=[
                "-O2",
                "-Wall",
                "-Wextra",
                "-Wno-unused-parameter",
                "-ffp-contract=off",
            ],
            optional=True,
        )
    ]
)
