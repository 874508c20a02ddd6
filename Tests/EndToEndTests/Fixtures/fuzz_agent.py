"""A hostile agent inside a real sandbox: replays the seeded cases of /opt/agent/cases.jsonl
(written by SandboxedFuzzTests) against the broker's socket, one connection per case, then
checks it is still served on fd 3 and prints a summary as JSON on stdout.

Each case: {"mode": M, "data": base64}. Modes: line (the bytes and a newline), unterminated
(the bytes, no newline, then a half-close), half_close (half the bytes, then a half-close),
flood (the line 500 times without reading, then reading what comes), connections (64
connections at once, a ping on each)."""
import base64
import json
import os
import socket
import sys
import time

SOCKET = os.environ.get("WARDEN_BROKER_SOCKET", "/run/warden/broker.sock")
DEADLINE = time.monotonic() + float(sys.argv[1] if len(sys.argv) > 1 else 25)
summary = {"cases": 0, "replies": 0, "closed": 0, "timeouts": 0, "refused": 0, "stalled": 0, "final_ok": False}


def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    s.connect(SOCKET)
    return s


def read_lines(s, wanted):
    """Reads up to `wanted` reply lines; counts replies, closes and timeouts."""
    buffer, got = b"", 0
    try:
        while got < wanted:
            chunk = s.recv(65536)
            if not chunk:
                summary["closed"] += 1
                return got
            buffer += chunk
            while b"\n" in buffer and got < wanted:
                line, buffer = buffer.split(b"\n", 1)
                json.loads(line)  # every reply is JSON, whatever was sent
                got += 1
                summary["replies"] += 1
    except socket.timeout:
        summary["timeouts"] += 1
    except (ConnectionResetError, BrokenPipeError):
        summary["closed"] += 1
    return got


def run(case):
    mode, data = case["mode"], base64.b64decode(case["data"])
    if mode == "connections":
        held = []
        try:
            for _ in range(64):
                try:
                    held.append(connect())
                except OSError:
                    summary["refused"] += 1
            for i, s in enumerate(held):
                try:
                    s.sendall(b'{"jsonrpc":"2.0","id":%d,"method":"ping"}\n' % i)
                except OSError:
                    summary["closed"] += 1
            for s in held:
                read_lines(s, 1)
        finally:
            for s in held:
                s.close()
        return
    s = connect()
    try:
        if mode == "line":
            s.sendall(data + b"\n")
            read_lines(s, 1)
        elif mode == "unterminated":
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            read_lines(s, 1)
        elif mode == "half_close":
            s.sendall(data[: len(data) // 2])
            s.shutdown(socket.SHUT_WR)
            read_lines(s, 1)
        elif mode == "flood":
            s.sendall((data + b"\n") * 500)
            read_lines(s, 500)
    except (BrokenPipeError, ConnectionResetError):
        summary["closed"] += 1
    except socket.timeout:
        # The broker stopped reading: its replies are not being read (a flood), so it pushes back.
        summary["stalled"] += 1
    finally:
        s.close()


for line in open("/opt/agent/cases.jsonl"):
    if time.monotonic() > DEADLINE:
        break
    run(json.loads(line))
    summary["cases"] += 1

# Still served: a well-formed call on fd 3 gets its result.
broker = os.fdopen(3, "r+b", buffering=0)
broker.write(b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}\n')
broker.write(b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"list_servers","arguments":{}}}\n')
buffer = b""
while buffer.count(b"\n") < 2:
    chunk = broker.read(65536)
    if not chunk:
        break
    buffer += chunk
replies = [json.loads(l) for l in buffer.split(b"\n") if l.strip()]
summary["final_ok"] = any(r.get("id") == 2 and "result" in r and not r["result"].get("isError") for r in replies)
print(json.dumps(summary), flush=True)
