"""Only the compiled part of the package; everything else is in pyproject.toml.

`mediaserver.rtp._wire` is the SFU's per-packet edge in C (SRTP and sendto). It is optional:
where no C compiler is present the install still succeeds and `mediaserver.rtp.wire` uses its
pure-Python version of the same functions.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "mediaserver.rtp._wire",
            sources=["mediaserver/rtp/_wire.c"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            optional=True,
        )
    ]
)
