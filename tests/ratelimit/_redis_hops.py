"""Network stand-ins for Redis tests: a TCP relay that can cut or hold up a connection, and a fake failing server."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit


class Proxy:
    """A TCP relay to Redis that the test can cut (a lost connection), or whose connection number ``held`` keeps
    what the client sends until ``let_go`` is set (a request held up in the network)."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.host, self.port, self.db = parts.hostname or "127.0.0.1", parts.port or 6379, parts.path
        self.writers: list[asyncio.StreamWriter] = []
        self.count = 0  # connections accepted so far
        self.held: int | None = None
        self.let_go = asyncio.Event()
        self.replies: dict[int, int] = {}  # connection number -> reply chunks relayed back (or dropped)
        self.answered = asyncio.Event()  # set on every reply chunk

    async def start(self) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}{self.db}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.count += 1
        number = self.count
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        self.writers += [writer, up_writer]

        async def outbound() -> None:
            try:
                while data := await reader.read(65536):
                    if number == self.held:
                        await self.let_go.wait()
                    up_writer.write(data)
                    await up_writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                if number != self.held:  # a held connection stays open upstream: its reply is still counted
                    up_writer.close()

        async def inbound() -> None:
            try:
                while data := await up_reader.read(65536):
                    self.replies[number] = self.replies.get(number, 0) + 1
                    self.answered.set()
                    if not writer.is_closing():
                        writer.write(data)
                        await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                writer.close()

        await asyncio.gather(outbound(), inbound())

    async def replied(self, number: int, after: int) -> None:
        """Wait until connection ``number`` has had more than ``after`` reply chunks."""
        while self.replies.get(number, 0) <= after:
            self.answered.clear()
            await self.answered.wait()

    async def cut(self) -> None:
        self.server.close()
        for w in self.writers:
            w.close()
        await asyncio.sleep(0.05)


async def _command(reader: asyncio.StreamReader) -> list[bytes]:
    """Read one RESP array of bulk strings (how redis-py sends every command)."""
    header = await reader.readline()
    if not header:
        raise EOFError
    words = []
    for _ in range(int(header[1:])):
        size = int((await reader.readline())[1:])
        words.append((await reader.readexactly(size + 2))[:-2])
    return words


class FailingRedis:
    """A server that speaks enough RESP for redis-py and answers every EVALSHA with the error ``reply``
    (``READONLY ...`` after a failover, ``OOM ...``); it records every command it receives."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.commands: list[list[bytes]] = []

    async def start(self) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return f"redis://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/0"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                words = await _command(reader)
                self.commands.append(words)
                verb = words[0].upper()
                if verb == b"EVALSHA":
                    writer.write(b"-" + self.reply + b"\r\n")
                elif verb == b"SCRIPT":
                    writer.write(b"$40\r\n" + b"0" * 40 + b"\r\n")
                else:
                    writer.write(b"+OK\r\n")
                await writer.drain()
        except (EOFError, ConnectionError, asyncio.IncompleteReadError):
            writer.close()

    def close(self) -> None:
        self.server.close()
