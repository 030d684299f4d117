"""The system's Chromium (Debian's `chromium`; never downloaded) and the flags it runs with
for calls on loopback: fake camera and microphone, no permission prompts, loopback ICE, and
nothing that reaches the network by itself. Shared by the browser tests and the benchmarks."""

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
