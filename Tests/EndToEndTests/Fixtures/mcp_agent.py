"""An agent built on the official MCP Python SDK: it starts `warden-mcp` as its stdio MCP
server, exactly as it would start any other, and uses the broker's tools through it."""
import asyncio
import json
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def report(**fields):
    print(json.dumps(fields), flush=True)


async def main():
    server = StdioServerParameters(command="warden-mcp", args=[])
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            report(step="initialize", server=init.serverInfo.name, version=init.protocolVersion)
            tools = await session.list_tools()
            report(step="tools", names=sorted(tool.name for tool in tools.tools))
            allowed = await session.call_tool("list_files", {"server": "10.0.12.45"})
            report(step="allowed", is_error=allowed.isError, text=allowed.content[0].text)
            forbidden = await session.call_tool("delete_file", {"server": "10.0.12.45", "path": "reports/2025-q4-revenue.csv"})
            report(step="forbidden", is_error=forbidden.isError, text=forbidden.content[0].text)
            await session.call_tool("done", {"summary": "listed the files through the MCP SDK"})


asyncio.run(main())
