"""An agent that only listens: it initializes, then prints every message the broker sends
(operator injections included) and leaves on a shutdown notice."""
import json
import os
import sys

broker = os.fdopen(3, "r+b", buffering=0)


def send(message):
    broker.write((json.dumps(message) + "\n").encode())


def lines():
    buffer = b""
    while True:
        chunk = broker.read(4096)
        if not chunk:
            return
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            yield json.loads(line)


send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18"}})
send({"jsonrpc": "2.0", "method": "notifications/initialized"})
for message in lines():
    method = message.get("method")
    if method == "warden/message":
        print("message:", message["params"]["text"], flush=True)
    elif method == "warden/shutdown":
        print("shutdown:", message["params"]["reason"], flush=True)
        sys.exit(0)
