"""Headless Firefox ESR driven over WebDriver BiDi: Debian's stock browser, no geckodriver.

Firefox's remote agent speaks BiDi on a websocket; this is a small synchronous client for the
few commands the browser tests need (a window per page in its own user context, navigate,
call a function in the page, console entries), on its own event loop in a thread, as the live
server's is. Everything stays on loopback: the remote agent listens on 127.0.0.1, and the
profile's preferences switch off the browser's own network traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import aiohttp

FIREFOX = "/usr/bin/firefox-esr"
PREFS: dict[str, Any] = {
    # A fake camera and microphone, granted without asking; media over loopback.
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
    "media.peerconnection.ice.loopback": True,
    "media.peerconnection.ice.obfuscate_host_addresses": False,
    # Gather on every interface, not only the one the default route leaves by.
    "media.peerconnection.ice.default_address_only": False,
    "media.autoplay.default": 0,
    "media.autoplay.blocking_policy": 0,
    # Nothing but the test server: no updates, telemetry, safe browsing, remote settings.
    "app.update.disabledForTesting": True,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.blockedURIs.enabled": False,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.newtabpage.enabled": False,
    "browser.region.network.url": "",
    "browser.region.update.enabled": False,
    "captivedetect.canonicalURL": "",
    "datareporting.healthreport.uploadEnabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.enabled": False,
    "extensions.update.enabled": False,
    "extensions.getAddons.cache.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "services.settings.server": "http://127.0.0.1:9/",
    "intl.accept_languages": "de",
}
LISTENING = re.compile(r"WebDriver BiDi listening on (ws://\S+)")


class BidiError(RuntimeError):
    pass


class Firefox:
    """One headless Firefox process and its BiDi session."""

    def __init__(self, executable: str = FIREFOX) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="lj-firefox-"))
        (self.profile / "user.js").write_text(
            "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in PREFS.items())
        )
        env = {**os.environ, "MOZ_HEADLESS": "1", "MOZ_CRASHREPORTER_DISABLE": "1"}
        self.process = subprocess.Popen(
            [
                executable,
                "--headless",
                "--no-remote",
                "--profile",
                str(self.profile),
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.stderr_tail: list[str] = []
        url = self._wait_listening(timeout=60)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="bidi", daemon=True)
        self.thread.start()
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self.console: list[dict[str, Any]] = []  # log.entryAdded params, in order
        self._run(self._connect(url))
        self.run("session.new", {"capabilities": {"alwaysMatch": {"acceptInsecureCerts": True}}})
        self.run("session.subscribe", {"events": ["log.entryAdded"]})

    def _wait_listening(self, timeout: float) -> str:
        assert self.process.stderr is not None
        deadline = time.monotonic() + timeout
        found: list[str] = []

        def read() -> None:  # until Firefox exits and its stderr ends
            assert self.process.stderr is not None
            for line in self.process.stderr:
                self.stderr_tail = [*self.stderr_tail[-49:], line.rstrip()]
                match = LISTENING.search(line)
                if match and not found:
                    found.append(match.group(1))

        self._stderr_reader = threading.Thread(target=read, name="firefox-stderr", daemon=True)
        self._stderr_reader.start()
        while not found:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise BidiError("Firefox did not start BiDi:\n" + "\n".join(self.stderr_tail))
            time.sleep(0.05)
        return found[0]

    async def _connect(self, url: str) -> None:
        self._http = aiohttp.ClientSession()
        self._ws = await self._http.ws_connect(f"{url}/session", max_msg_size=0)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self._ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            if data.get("type") == "event":
                if data.get("method") == "log.entryAdded":
                    self.console.append(data["params"])
                continue
            future = self._pending.pop(data.get("id"), None)
            if future is None or future.done():
                continue
            if data.get("type") == "success":
                future.set_result(data.get("result"))
            else:
                future.set_exception(BidiError(f"{data.get('error')}: {data.get('message')}"))
        for future in self._pending.values():
            if not future.done():
                future.set_exception(BidiError("the BiDi connection closed"))

    async def _command(self, method: str, params: dict[str, Any]) -> Any:
        command_id = next(self._ids)
        future: asyncio.Future[Any] = self.loop.create_future()
        self._pending[command_id] = future
        await self._ws.send_str(json.dumps({"id": command_id, "method": method, "params": params}))
        return await future

    def _run(self, coro: Any, timeout: float = 60) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def run(self, method: str, params: dict[str, Any], timeout: float = 60) -> Any:
        """Send one BiDi command and wait for its result."""
        return self._run(self._command(method, params), timeout)

    def new_page(self) -> FirefoxPage:
        """A page in a window of its own (a background tab paints no video) and its own user
        context (cookies and storage apart, as one person per browser)."""
        user_context = self.run("browser.createUserContext", {})["userContext"]
        created = self.run(
            "browsingContext.create", {"type": "window", "userContext": user_context}
        )
        return FirefoxPage(self, created["context"], user_context)

    def errors(self) -> list[str]:
        """Console errors and uncaught exceptions so far."""
        return [
            f"{e.get('type')}: {e.get('text')}" for e in self.console if e.get("level") == "error"
        ]

    def close(self) -> None:
        if getattr(self, "_ws", None) is not None:

            async def shut() -> None:
                await self._ws.close()
                await self._http.close()

            with contextlib.suppress(Exception):  # closing anyway
                self._run(shut(), timeout=10)
        if getattr(self, "loop", None) is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
            self.loop.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        reader = getattr(self, "_stderr_reader", None)
        if reader is not None:
            reader.join(5)  # it ends with Firefox's stderr; close the pipe only after it
        if self.process.stderr is not None and (reader is None or not reader.is_alive()):
            self.process.stderr.close()
        shutil.rmtree(self.profile, ignore_errors=True)


class FirefoxPage:
    """One window: the small part of Playwright's `Page` the call tests use."""

    def __init__(self, browser: Firefox, context: str, user_context: str) -> None:
        self.browser = browser
        self.context = context
        self.user_context = user_context

    def goto(self, url: str) -> None:
        self.browser.run(
            "browsingContext.navigate", {"context": self.context, "url": url, "wait": "complete"}
        )

    def evaluate(self, function: str, arg: Any = None) -> Any:
        """Call a JavaScript function (source text) with one JSON argument; its awaited result
        comes back through JSON."""
        wrapper = f"async (arg) => JSON.stringify(await ({function})(JSON.parse(arg)) ?? null)"
        result = self.browser.run(
            "script.callFunction",
            {
                "functionDeclaration": wrapper,
                "arguments": [{"type": "string", "value": json.dumps(arg)}],
                "target": {"context": self.context},
                "awaitPromise": True,
                "resultOwnership": "none",
                "userActivation": True,
            },
        )
        if result.get("type") == "exception":
            details = result.get("exceptionDetails", {})
            raise BidiError(f"script error: {details.get('text')}")
        return json.loads(result["result"]["value"])

    def click(self, selector: str) -> None:
        """Click the element (a script click: the page's handlers see a click event)."""
        found = self.evaluate(
            "(sel) => { const e = document.querySelector(sel); if (!e) return false;"
            " e.click(); return true; }",
            selector,
        )
        if not found:
            raise BidiError(f"nothing to click at {selector}")

    def visible(self, selector: str) -> bool:
        return bool(
            self.evaluate(
                "(sel) => { const e = document.querySelector(sel);"
                " return !!e && !e.closest('[hidden]') && e.getClientRects().length > 0; }",
                selector,
            )
        )

    def close(self) -> None:
        self.browser.run("browsingContext.close", {"context": self.context})
        self.browser.run("browser.removeUserContext", {"userContext": self.user_context})
