"""Opens Inspect logs the way a researcher does: `inspect view` serving a log directory, in
headless Chromium (driven through the DevTools protocol, in real time). Prints, as JSON, the
text of the log's page and of one sample's messages tab.

    view_in_chromium.py LOG_DIR LOG_FILE_NAME SAMPLE_ID
"""
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse

import aiohttp

log_dir, log_file, sample_id = sys.argv[1:4]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


view_port, debug_port = free_port(), free_port()
inspect = os.path.join(os.path.dirname(sys.executable), "inspect")
view = subprocess.Popen([inspect, "view", "start", "--log-dir", log_dir, "--port", str(view_port), "--host", "127.0.0.1"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
browser = subprocess.Popen(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", f"--remote-debugging-port={debug_port}",
                            f"--user-data-dir=/tmp/warden-chromium-{debug_port}", "about:blank"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def page_text(ws, counter, url, expression, settle):
    async def call(method, params=None):
        counter[0] += 1
        mine = counter[0]
        await ws.send_json({"id": mine, "method": method, "params": params or {}})
        while True:
            message = await ws.receive_json()
            if message.get("id") == mine:
                return message
    await call("Page.navigate", {"url": url})
    text, deadline = "", time.time() + settle
    while time.time() < deadline:
        await asyncio.sleep(1)
        result = await call("Runtime.evaluate", {"expression": expression})
        text = result.get("result", {}).get("result", {}).get("value", "") or ""
    return text


async def main():
    async with aiohttp.ClientSession() as http:
        for _ in range(150):
            try:
                async with http.get(f"http://127.0.0.1:{view_port}/") as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
        targets = []
        for _ in range(150):
            try:
                async with http.get(f"http://127.0.0.1:{debug_port}/json") as response:
                    targets = await response.json()
                    if any(t["type"] == "page" for t in targets):
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
        page = next(t for t in targets if t["type"] == "page")
        async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            counter = [0]
            base = f"http://127.0.0.1:{view_port}/#/logs/{urllib.parse.quote(log_file)}"
            log_page = await page_text(ws, counter, base, "document.body.innerText", 10)
            click_messages = ("(()=>{const b=Array.from(document.querySelectorAll('button,a,[role=tab]'))"
                              ".find(x=>x.innerText&&x.innerText.trim().toUpperCase()=='MESSAGES');"
                              "if(b) b.click(); return document.body.innerText})()")
            sample_url = f"{base}/samples/sample/{urllib.parse.quote(sample_id, safe='')}/1/"
            sample_page = await page_text(ws, counter, sample_url, click_messages, 10)
            print(json.dumps({"log_page": log_page, "sample_page": sample_page}))


try:
    asyncio.run(main())
finally:
    browser.kill()
    view.kill()
