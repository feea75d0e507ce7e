"""A small Chrome DevTools Protocol client over aiohttp websockets, to drive Debian's headless chromium
through pages the way a person would: open a URL, fill a form, submit it, read what the page shows.

    async with Browser.launch(tmp_path) as browser:
        page = await browser.page()
        await page.goto("http://127.0.0.1:8088/login")
        await page.fill({"#username": "rev-0042"})
        await page.submit("form")
        rows = await page.evaluate("document.querySelectorAll('tr').length")

Every console message and browser log entry (a Content-Security-Policy violation, a failed load) is kept
in ``page.messages`` so a test can assert there are none.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class CdpError(RuntimeError):
    """The browser answered a command with an error, or a script threw."""


class Page:
    """One tab, driven over its own DevTools websocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, timeout_s: float) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._waiters: list[tuple[str, asyncio.Future[dict[str, Any]]]] = []
        self._reader = asyncio.create_task(self._read())
        self.timeout_s = timeout_s
        self.messages: list[str] = []

    async def _read(self) -> None:
        async for message in self._ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(message.data)
            if "id" in data:
                future = self._pending.pop(data["id"], None)
                if future is not None and not future.done():
                    future.set_result(data)
                continue
            method, params = data.get("method", ""), data.get("params", {})
            if method == "Runtime.consoleAPICalled":
                self.messages.append(f"console.{params['type']}: {[a.get('value') for a in params['args']]}")
            elif method == "Log.entryAdded":
                entry = params["entry"]
                self.messages.append(f"{entry['level']} {entry['source']}: {entry['text']}")
            for wanted, waiter in list(self._waiters):
                if wanted == method and not waiter.done():
                    waiter.set_result(params)
                    self._waiters.remove((wanted, waiter))
        for future in self._pending.values():
            if not future.done():
                future.set_exception(CdpError("the browser closed the connection"))

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Run one DevTools command and return its result."""
        ident = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        await self._ws.send_json({"id": ident, "method": method, "params": params})
        answer = await asyncio.wait_for(future, self.timeout_s)
        if "error" in answer:
            raise CdpError(f"{method}: {answer['error']}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    def _expect(self, method: str) -> asyncio.Future[dict[str, Any]]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((method, future))
        return future

    async def goto(self, url: str) -> int:
        """Open ``url`` and wait until it has loaded; returns the HTTP status of the page shown."""
        loaded = self._expect("Page.loadEventFired")
        answer = await self.send("Page.navigate", url=url)
        if answer.get("errorText"):
            raise CdpError(f"{url}: {answer['errorText']}")
        await asyncio.wait_for(loaded, self.timeout_s)
        return await self.status()

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises are awaited)."""
        answer = await self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in answer:
            details = answer["exceptionDetails"]
            raise CdpError(details.get("exception", {}).get("description") or details.get("text"))
        return answer["result"].get("value")

    async def fill(self, fields: Mapping[str, str | bool]) -> None:
        """Set inputs by CSS selector: text for fields and selects, True/False to check or uncheck."""
        for selector, value in fields.items():
            found = await self.evaluate(
                f"""(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return false;
                if (typeof {json.dumps(value)} === 'boolean') e.checked = {json.dumps(value)};
                else e.value = {json.dumps(value)};
                e.dispatchEvent(new Event('change', {{bubbles: true}})); return true; }})()"""
            )
            if not found:
                raise CdpError(f"no element matches {selector}")

    async def submit(self, selector: str) -> int:
        """Submit a form as its submit button would (with the browser's own validation) and wait for the
        page that answers; returns its HTTP status."""
        loaded = self._expect("Page.loadEventFired")
        await self.evaluate(f"document.querySelector({json.dumps(selector)}).requestSubmit()")
        await asyncio.wait_for(loaded, self.timeout_s)
        return await self.status()

    async def status(self) -> int:
        return int(await self.evaluate("performance.getEntriesByType('navigation')[0].responseStatus"))

    async def text(self, selector: str = "body") -> str:
        return str(await self.evaluate(f"document.querySelector({json.dumps(selector)})?.innerText ?? ''"))

    async def close(self) -> None:
        await self._ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


class Browser:
    """A headless chromium with its DevTools port open, in a profile directory of its own."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, session: aiohttp.ClientSession) -> None:
        self.process = process
        self.port = port
        self._session = session
        self._pages: list[Page] = []

    @classmethod
    @contextlib.asynccontextmanager
    async def launch(cls, profile_dir: Path, timeout_s: float = 30.0) -> AsyncIterator[Browser]:
        profile_dir.mkdir(parents=True, exist_ok=True)
        command = [
            CHROMIUM, "--headless=new", "--remote-debugging-port=0", f"--user-data-dir={profile_dir}",
            "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-extensions", "--window-size=1200,900", "about:blank",
        ]  # fmt: skip
        if os.geteuid() == 0:
            command.insert(1, "--no-sandbox")  # chromium refuses to run as root with its sandbox (containers, CI)
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        session = aiohttp.ClientSession()
        try:
            port = await _devtools_port(profile_dir / "DevToolsActivePort", process, timeout_s)
            browser = cls(process, port, session)
            yield browser
            for page in browser._pages:
                await page.close()
        finally:
            await session.close()
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    async def page(self, timeout_s: float = 30.0) -> Page:
        """The first tab, with page, runtime and log events on."""
        async with self._session.get(f"http://127.0.0.1:{self.port}/json/list") as answer:
            targets = await answer.json()
        target = next(t for t in targets if t["type"] == "page")
        ws = await self._session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=64 * 1024 * 1024)
        page = Page(ws, timeout_s)
        for domain in ("Page", "Runtime", "Log"):
            await page.send(f"{domain}.enable")
        self._pages.append(page)
        return page


async def _devtools_port(path: Path, process: subprocess.Popen[bytes], timeout_s: float) -> int:
    """Chromium writes the port it picked (and the browser's websocket path) to DevToolsActivePort."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        if process.poll() is not None:
            raise CdpError(f"chromium exited with {process.returncode} before opening its DevTools port")
        with contextlib.suppress(FileNotFoundError, ValueError, IndexError):
            return int(path.read_text().splitlines()[0])
        await asyncio.sleep(0.1)
    raise CdpError(f"chromium wrote no {path.name} within {timeout_s:.0f} s")
