"""An agent that exercises the broker's `bash` tool and prints each result as a JSON line:
output caps, time limits, world changes, and a symlink aimed at the daemon's own tools."""
import json
import os
import sys

broker = os.fdopen(int(os.environ.get("WARDEN_BROKER_FD", "3")), "r+b", buffering=0)
next_id = 0


def request(method, params=None):
    global next_id
    next_id += 1
    broker.write((json.dumps({"jsonrpc": "2.0", "id": next_id, "method": method, "params": params or {}}) + "\n").encode())
    while True:
        line = b""
        while not line.endswith(b"\n"):
            chunk = broker.read(1)
            if not chunk:
                sys.exit("broker closed")
            line += chunk
        message = json.loads(line)
        if message.get("id") == next_id:
            return message.get("result") or message.get("error")


def call(name, **arguments):
    result = request("tools/call", {"name": name, "arguments": arguments})
    text = result["content"][0]["text"]
    print(json.dumps({"tool": name, "arguments": arguments, "text": text, "is_error": result["isError"]}), flush=True)
    return text


request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "shell_agent.py"}})
broker.write(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}\n')
with open(sys.argv[1]) as handle:
    commands = json.load(handle)
for command in commands:
    if command.startswith("wait:"):
        import time
        time.sleep(float(command[len("wait:"):]))
    elif command.startswith("read_file:"):
        server, path = command[len("read_file:"):].split(":", 1)
        call("read_file", server=server, path=path)
    else:
        call("bash", command=command)
call("done", summary="shell checks")
