"""What a listening socket gives the connections asyncio accepts on it."""

from __future__ import annotations

import asyncio
import socket


def accepted_nodelay(listener: socket.socket) -> int:
    """TCP_NODELAY of a connection accepted on ``listener`` by an asyncio server (asyncio
    sets it only when the socket's protocol says TCP; without it an answer written in two
    parts waits for the client's delayed ACK)."""

    async def accept_one() -> int:
        nodelay: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def connected(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted = writer.get_extra_info("socket")
            nodelay.set_result(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(connected, sock=listener)
        _, writer = await asyncio.open_connection("127.0.0.1", listener.getsockname()[1])
        try:
            return await asyncio.wait_for(nodelay, 10)
        finally:
            writer.close()
            server.close()

    return asyncio.run(accept_one())
