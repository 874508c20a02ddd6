"""An agent that exercises the broker's `bash` tool and prints each result as a JSON line:
output caps, time limits, world changes, and attacks aimed at the daemon's own tools.

Commands: a shell command; `wait:SECONDS`; `read_file:HOST:PATH`; `tool:NAME:JSON-ARGUMENTS`
(any tool); `done:SUMMARY` (the summary `done` is called with at the end); `no_done` (never call
done: the run's time limit ends the agent); `race:N:HOST:DIR:OTHER:FILE` (a child exchanges /srv/hosts/HOST/DIR and
/srv/hosts/HOST/OTHER with renameat2(RENAME_EXCHANGE) as fast as it can while this process asks
the broker N times for DIR/FILE on HOST; prints one summary line)."""
import ctypes
import json
import os
import signal
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


def call(name, quiet=False, **arguments):
    result = request("tools/call", {"name": name, "arguments": arguments})
    text = result["content"][0]["text"]
    if not quiet:
        print(json.dumps({"tool": name, "arguments": arguments, "text": text, "is_error": result["isError"]}), flush=True)
    return text, result["isError"]


def race(count, host, directory, other, name):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    first = f"/srv/hosts/{host}/{directory}".encode()
    second = f"/srv/hosts/{host}/{other}".encode()
    child = os.fork()
    if child == 0:
        swaps = 0
        while True:
            # renameat2(AT_FDCWD, first, AT_FDCWD, second, RENAME_EXCHANGE)
            if libc.syscall(316, -100, first, -100, second, 2) == 0:
                swaps += 1
    outcomes = {"race": count, "inside": 0, "refused": 0, "other": []}
    for _ in range(count):
        text, is_error = call("read_file", quiet=True, server=host, path=f"{directory}/{name}")
        if is_error:
            outcomes["refused"] += 1
        elif text == "inside\n":
            outcomes["inside"] += 1
        elif len(outcomes["other"]) < 3:
            outcomes["other"].append(text[:200])
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
    print(json.dumps(outcomes), flush=True)


request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "shell_agent.py"}})
broker.write(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}\n')
with open(sys.argv[1]) as handle:
    commands = json.load(handle)
finish = True
for command in commands:
    if command == "no_done":
        # Never finishes: the run's time limit ends it.
        finish = False
    elif command.startswith("wait:"):
        import time
        time.sleep(float(command[len("wait:"):]))
    elif command.startswith("done:"):
        os.environ["DONE_SUMMARY"] = command[len("done:"):]
    elif command.startswith("read_file:"):
        server, path = command[len("read_file:"):].split(":", 1)
        call("read_file", server=server, path=path)
    elif command.startswith("tool:"):
        name, arguments = command[len("tool:"):].split(":", 1)
        call(name, **json.loads(arguments))
    elif command.startswith("race:"):
        count, host, directory, other, name = command[len("race:"):].split(":")
        race(int(count), host, directory, other, name)
    else:
        call("bash", command=command)
if finish:
    call("done", summary=os.environ.get("DONE_SUMMARY", "shell checks"))
else:
    import time
    time.sleep(3600)
