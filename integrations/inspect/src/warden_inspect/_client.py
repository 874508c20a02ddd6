import base64
import itertools
import json
import os
from typing import Any

import anyio
from anyio.streams.buffered import BufferedByteReceiveStream

DEFAULT_SOCKET = "/run/warden/control.sock"
# A request line stays well under wardend's 32 MiB limit; larger data is staged in pieces.
STAGE_BYTES = 8 * 1024 * 1024
_ids = itertools.count(1)


class WardenError(RuntimeError):
    """wardend refused a request or could not carry it out."""

    def __init__(self, method: str, error: dict[str, Any]):
        self.method = method
        self.code = error.get("code")
        self.data = error.get("data")
        super().__init__(f"wardend: {method}: {error.get('message', error)}")


def socket_path(configured: str | None = None) -> str:
    return configured or os.environ.get("WARDEN_SOCKET") or DEFAULT_SOCKET


async def call(socket: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """One JSON-RPC request on its own connection (newline-delimited, as wardenctl speaks)."""
    request_id = next(_ids)
    line = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}, separators=(",", ":"))
    try:
        stream = await anyio.connect_unix(socket)
    except OSError as ex:
        raise WardenError(method, {"message": f"cannot reach wardend at {socket} ({ex}); is it running? (WARDEN_SOCKET names another socket)"}) from ex
    async with stream:
        await stream.send(line.encode() + b"\n")
        reader = BufferedByteReceiveStream(stream)
        while True:
            reply = json.loads(await reader.receive_until(b"\n", 1 << 31))
            if reply.get("id") != request_id:
                continue  # a notification
            if "error" in reply:
                raise WardenError(method, reply["error"])
            return reply["result"]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


async def with_data(socket: str, sandbox: str, params: dict[str, Any], key: str, data: bytes | None) -> dict[str, Any]:
    """`params` with `data` under `key`; data past one request's size goes ahead in sandbox.stage calls."""
    if data is None:
        return params
    if len(data) <= STAGE_BYTES:
        return {**params, key: b64(data)}
    head, last = data[: -STAGE_BYTES], data[-STAGE_BYTES:]
    for start in range(0, len(head), STAGE_BYTES):
        await call(socket, "sandbox.stage", {"sandbox": sandbox, "data": b64(head[start : start + STAGE_BYTES])})
    return {**params, key: b64(last), "staged": True}
