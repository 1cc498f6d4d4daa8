"""lab.serve: one address in front of several servers, each student's machine always on the same one."""

from __future__ import annotations

import asyncio

import pytest

from lab.serve import StickyRouter, free_port, main, proxy


def test_router_is_sticky_and_spreads_new_clients_over_the_least_loaded_backend():
    router = StickyRouter(2)
    assert [router.backend_for(ip) for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.1")] == [0, 1, 0, 0]
    assert router.load == {0: 2, 1: 1}
    with pytest.raises(ValueError, match="at least one"):
        StickyRouter(0)


def test_proxy_splices_each_client_to_its_own_backend_and_keeps_it():
    async def scenario() -> list[str]:
        async def backend(name: str):
            async def reply(reader, writer):
                data = await reader.read(100)
                writer.write(name.encode() + b":" + data)
                await writer.drain()
                writer.close()
            return await asyncio.start_server(reply, "127.0.0.1", 0)

        servers = [await backend("A"), await backend("B")]
        ports = [s.sockets[0].getsockname()[1] for s in servers]
        port = free_port()
        task = asyncio.create_task(proxy("127.0.0.1", port, ports, StickyRouter(2)))
        await asyncio.sleep(0.2)
        answers = []
        for source in ("127.0.0.2", "127.0.0.3", "127.0.0.2", "127.0.0.3"):
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
            writer.write(source.encode())
            await writer.drain()
            answers.append((await reader.read(100)).decode())
            writer.close()
        task.cancel()
        for s in servers:
            s.close()
        return answers

    assert asyncio.run(scenario()) == ["A:127.0.0.2", "B:127.0.0.3", "A:127.0.0.2", "B:127.0.0.3"]


def test_impossible_worker_counts_exit_2_with_one_line(capsys):
    assert main(["--workers", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--workers 0; choose 1 to 64" in err[0]
