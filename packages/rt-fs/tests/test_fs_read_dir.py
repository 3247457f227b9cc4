"""rt.fs.read_dir: entries, kinds, batching, errors and early exits, on a real directory."""

from __future__ import annotations

import os
import pathlib
import socket

import pytest

import rt
import rt.fs
from rt.fs import DirEntry, FileType


def _populate(root: pathlib.Path, files: int) -> None:
    for i in range(files):
        (root / f"f{i:05d}").write_bytes(b"x" * (i % 7))
    (root / "sub").mkdir()
    (root / "link").symlink_to("sub")
    os.mkfifo(root / "fifo")


async def test_lists_every_entry_once_with_its_kind(tmp_path: pathlib.Path) -> None:
    _populate(tmp_path, 300)
    sock_path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(sock_path))
        kinds: dict[str, FileType] = {}
        async for entry in rt.fs.read_dir(tmp_path):
            assert isinstance(entry, DirEntry)
            name = entry.file_name()
            assert isinstance(name, str)
            assert name not in kinds
            assert entry.path() == os.path.join(tmp_path, name)
            kinds[name] = await entry.file_type()
    assert len(kinds) == 300 + 4
    assert kinds["sub"].is_dir()
    assert kinds["link"].is_symlink()
    assert not kinds["link"].is_dir()
    assert kinds["fifo"].is_fifo()
    assert kinds["sock"].is_socket()
    assert all(kinds[f"f{i:05d}"].is_file() for i in range(300))


async def test_entry_metadata_does_not_follow_links_and_entries_are_paths(
    tmp_path: pathlib.Path,
) -> None:
    (tmp_path / "data").write_bytes(b"12345")
    (tmp_path / "link").symlink_to("data")
    seen = {}
    async for entry in rt.fs.read_dir(str(tmp_path)):
        seen[entry.file_name()] = (await entry.metadata(), entry)
    assert seen["data"][0].st_size == 5
    assert FileType.of(seen["link"][0]).is_symlink()
    assert await rt.fs.read(seen["link"][1]) == b"12345"  # DirEntry is os.PathLike
    assert seen["data"][1].ino() == (tmp_path / "data").stat().st_ino


async def test_bytes_paths_give_bytes_names(tmp_path: pathlib.Path) -> None:
    (tmp_path / "a").write_bytes(b"")
    names = [e.file_name() async for e in rt.fs.read_dir(os.fsencode(tmp_path))]
    assert names == [b"a"]


async def test_awaiting_read_dir_opens_it_and_next_entry_ends_with_none(
    tmp_path: pathlib.Path,
) -> None:
    (tmp_path / "only").write_bytes(b"")
    entries = await rt.fs.read_dir(tmp_path)
    first = await entries.next_entry()
    assert first is not None and first.file_name() == "only"
    assert await entries.next_entry() is None
    assert await entries.next_entry() is None


async def test_a_missing_directory_raises_at_the_await_naming_it(tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "missing"
    rd = rt.fs.read_dir(missing)  # nothing happens yet
    with pytest.raises(FileNotFoundError) as info:
        await rd
    assert str(missing) in str(info.value)
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        async for _ in rt.fs.read_dir(tmp_path / "file"):
            pass


async def test_ten_thousand_entries_take_a_few_pool_jobs_not_one_per_entry(
    tmp_path: pathlib.Path,
) -> None:
    for i in range(10_000):
        (tmp_path / str(i)).touch()
    handle = rt.Handle.current()
    before = handle.metrics().spawned_tasks
    count = 0
    async for entry in rt.fs.read_dir(tmp_path):
        assert (await entry.file_type()).is_file()
        count += 1
    jobs = handle.metrics().spawned_tasks - before
    assert count == 10_000
    assert jobs <= 10, f"{jobs} pool jobs for 10,000 entries"


async def test_leaving_early_and_closing_release_the_directory(tmp_path: pathlib.Path) -> None:
    _populate(tmp_path, 1000)
    fds = len(os.listdir("/proc/self/fd"))
    rd = rt.fs.read_dir(tmp_path)
    async for _ in rd:
        break
    assert len(os.listdir("/proc/self/fd")) == fds + 1  # the open directory
    rd.close()
    rd.close()
    assert len(os.listdir("/proc/self/fd")) == fds
    assert await rd.next_entry() is None


async def test_a_cancelled_next_entry_keeps_its_batch_for_the_next_call(
    tmp_path: pathlib.Path,
) -> None:
    for i in range(50):
        (tmp_path / str(i)).touch()
    rd = rt.fs.read_dir(tmp_path)
    h = rt.spawn(rd.next_entry())
    await rt.yield_now()
    h.abort()
    names = set()
    try:
        first = await h  # on a multi-thread runtime it may have finished first: fine too
    except rt.JoinError as err:
        assert err.is_cancelled()
    else:
        assert first is not None
        names.add(first.file_name())
    names |= {e.file_name() async for e in rd}
    assert names == {str(i) for i in range(50)}


def test_file_type_reprs_and_equality() -> None:
    import stat

    assert FileType(stat.S_IFDIR | 0o755) == FileType(stat.S_IFDIR)
    assert repr(FileType(stat.S_IFREG)) == "<rt.fs.FileType file>"
    assert FileType(stat.S_IFCHR).is_char_device()
    assert FileType(stat.S_IFBLK).is_block_device()
    with pytest.raises(TypeError):
        DirEntry()


def test_no_fd_or_thread_is_left_after_the_runtime_shuts_down(
    tmp_path: pathlib.Path, flavor: str | None
) -> None:
    import gc
    import threading
    import warnings

    _populate(tmp_path, 500)
    fds = set(os.listdir("/proc/self/fd"))
    threads = set(threading.enumerate())

    async def main() -> None:
        async with await rt.fs.File.create(tmp_path / "closed") as f:
            await f.write(b"x" * 100_000)
        dropped = await rt.fs.File.open(tmp_path / "closed")
        assert await dropped.read(10) == b"x" * 10
        del dropped  # never closed: garbage collection closes it (with a ResourceWarning)
        rd = rt.fs.read_dir(tmp_path)
        async for _ in rd:
            break  # abandoned half-way, never closed
        del rd
        assert len(await rt.fs.read(tmp_path / "closed")) == 100_000

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        rt.run(main(), flavor=flavor)
        gc.collect()
    assert set(os.listdir("/proc/self/fd")) <= fds
    assert set(threading.enumerate()) <= threads
