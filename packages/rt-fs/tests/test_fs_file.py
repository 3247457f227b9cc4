"""rt.fs.File and OpenOptions on real files and FIFOs in a temporary directory."""

from __future__ import annotations

import gc
import os
import pathlib
import stat
import threading
import warnings

import pytest

import rt
import rt.io
from rt.fs import File, OpenOptions
from rt.fs._file import READ_AHEAD, WRITE_BATCH
from rt.lowlevel import wait_readable

ROOT_PROOF_READ_ONLY = "/sys/kernel/uevent_seqnum"  # 0444 in sysfs: no write even for root


def _data(n: int) -> bytes:
    return bytes(i % 251 for i in range(n))


async def test_create_write_then_open_and_read_back_in_chunks(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f.bin"
    payload = _data(3 * READ_AHEAD + 12345)
    async with await File.create(path) as f:
        for i in range(0, len(payload), 4096):
            assert await f.write(payload[i : i + 4096]) == len(payload[i : i + 4096])
    got = bytearray()
    async with await File.open(path) as f:
        while chunk := await f.read(65536):
            assert len(chunk) <= 65536
            got += chunk
        assert await f.read() == b""
    assert got == payload


async def test_paths_may_be_str_bytes_or_pathlike(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "p.txt"
    path.write_bytes(b"abc")
    for p in (str(path), os.fsencode(path), path):
        async with await File.open(p) as f:
            assert await f.read_to_end() == b"abc"
            assert f.name == p if not isinstance(p, pathlib.Path) else str(p)


async def test_a_path_of_another_type_is_a_type_error_saying_what_a_path_may_be() -> None:
    with pytest.raises(TypeError, match=r"str, bytes or os\.PathLike"):
        await File.open(42)  # type: ignore[arg-type]


async def test_read_at_end_returns_new_bytes_once_the_file_grows(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "log"
    path.write_bytes(b"one\n")
    async with await File.open(path) as f:
        assert await f.read() == b"one\n"
        assert await f.read() == b""
        with open(path, "ab") as w:
            w.write(b"two\n")
        assert await f.read() == b"two\n"


async def test_read_exact_returns_exactly_n_and_raises_with_the_partial_bytes_at_eof(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"0123456789")
    async with await File.open(path) as f:
        assert await f.read_exact(4) == b"0123"
        with pytest.raises(rt.io.IncompleteReadError) as info:
            await f.read_exact(10)
        assert info.value.partial == b"456789"
        assert isinstance(info.value, EOFError)
        assert await f.read() == b""


async def test_read_exact_larger_than_the_read_ahead(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f"
    payload = _data(READ_AHEAD * 2 + 7)
    path.write_bytes(payload)
    async with await File.open(path) as f:
        assert await f.read_exact(5) == payload[:5]
        assert await f.read_exact(READ_AHEAD * 2) == payload[5 : 5 + READ_AHEAD * 2]
        assert await f.read_to_end() == payload[5 + READ_AHEAD * 2 :]


async def test_position_is_the_callers_not_the_read_aheads(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(_data(100_000))
    async with await File.open(path) as f:
        assert await f.read(10) == _data(10)
        assert await f.tell() == 10
        assert await f.seek(5, os.SEEK_CUR) == 15
        assert await f.read(5) == _data(20)[15:]
        assert await f.seek(-10, os.SEEK_END) == 99_990
        assert await f.read_to_end() == _data(100_000)[-10:]
        assert await f.seek(0) == 0
        assert await f.read(3) == _data(3)


async def test_write_after_a_read_lands_right_after_the_bytes_read(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abcdefghij")
    async with await OpenOptions().read().write().open(path) as f:
        assert await f.read(3) == b"abc"
        await f.write(b"XY")
        assert await f.read(2) == b"fg"
        await f.write(b"Z")
    assert path.read_bytes() == b"abcXYfgZij"


async def test_writes_reach_the_file_in_order_across_batches_and_big_writes(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "f"
    parts = [b"a" * 100, _data(WRITE_BATCH + 5), b"b" * (WRITE_BATCH - 50), b"c" * 70, b"tail"]
    async with await File.create(path) as f:
        for part in parts:
            mutable = bytearray(part)
            await f.write_all(mutable)
            mutable[:] = b"!" * len(mutable)  # the File copied it
    assert path.read_bytes() == b"".join(parts)


async def test_write_takes_memoryviews_of_any_format_by_bytes(tmp_path: pathlib.Path) -> None:
    import array

    path = tmp_path / "f"
    arr = array.array("i", [1, 2, 3])
    async with await File.create(path) as f:
        assert await f.write(memoryview(arr)) == arr.itemsize * 3
    assert path.read_bytes() == arr.tobytes()


async def test_metadata_set_len_and_syncs_see_buffered_writes(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f"
    async with await OpenOptions().read().write().create().open(path) as f:
        await f.write(b"x" * 1000)
        assert (await f.metadata()).st_size == 1000
        await f.set_len(10)
        assert (await f.metadata()).st_size == 10
        await f.set_len(20)
        await f.sync_all()
        await f.sync_data()
        await f.seek(0)
        assert await f.read_to_end() == b"x" * 10 + b"\0" * 10


async def test_flush_hands_bytes_to_the_os_before_close(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f"
    f = await File.create(path)
    await f.write(b"hello")
    assert path.read_bytes() == b""
    await f.flush()
    assert path.read_bytes() == b"hello"
    await f.shutdown()
    await f.close()


async def test_every_operation_on_a_closed_file_is_a_value_error(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    f = await File.open(path)
    await f.close()
    await f.close()  # twice: nothing
    assert f.closed
    for op in (
        f.read(),
        f.read_exact(1),
        f.read_to_end(),
        f.write(b"x"),
        f.flush(),
        f.seek(0),
        f.set_len(0),
        f.metadata(),
        f.sync_all(),
        f.sync_data(),
    ):
        with pytest.raises(ValueError, match=r"closed rt\.fs\.File"):
            await op
    with pytest.raises(ValueError, match="closed"):
        f.fileno()


async def test_opening_a_missing_file_names_it(tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(FileNotFoundError) as info:
        await File.open(missing)
    assert info.value.filename == str(missing)


async def test_opening_a_directory_is_an_is_a_directory_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(IsADirectoryError) as info:
        await File.open(tmp_path)
    assert info.value.filename == str(tmp_path)
    with pytest.raises(IsADirectoryError):
        await File.create(tmp_path)


async def test_permission_denied_is_a_permission_error(tmp_path: pathlib.Path) -> None:
    if os.geteuid() != 0:
        path = tmp_path / "locked"
        path.write_bytes(b"")
        path.chmod(0o400)
        target = str(path)
    elif os.path.exists(ROOT_PROOF_READ_ONLY):
        target = ROOT_PROOF_READ_ONLY
    else:  # pragma: no cover - depends on the machine
        pytest.skip("running as root, which bypasses permission bits, and no sysfs to test on")
    with pytest.raises(PermissionError):
        await OpenOptions().write().open(target)


async def test_open_options_refuse_contradictions_with_a_value_error(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "f"
    with pytest.raises(ValueError, match=r"call .read\(\), .write\(\) or .append\(\)"):
        await OpenOptions().open(path)
    with pytest.raises(ValueError, match=r"need \.write"):
        await OpenOptions().read().create().open(path)
    with pytest.raises(ValueError, match="contradict"):
        await OpenOptions().append().truncate().open(path)
    with pytest.raises(ValueError, match="mode"):
        OpenOptions().mode(0o10000)
    assert not path.exists()


async def test_create_new_fails_on_an_existing_file_and_mode_applies(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "f"
    f = await OpenOptions().write().create_new().mode(0o600).open(path)
    await f.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 & ~_umask()
    with pytest.raises(FileExistsError):
        await File.create_new(path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


async def test_append_writes_at_the_end_whatever_the_position(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"start\n")
    async with await OpenOptions().append().open(path) as f:
        await f.write(b"one\n")
    async with await OpenOptions().append().read().open(path) as f:
        assert await f.read(5) == b"start"
        await f.write(b"two\n")
    assert path.read_bytes() == b"start\none\ntwo\n"


async def test_buf_reader_lines_and_rt_io_copy_work_on_files(tmp_path: pathlib.Path) -> None:
    src = tmp_path / "src"
    src.write_bytes(b"".join(b"line %d\r\n" % i for i in range(5000)))
    async with await File.open(src) as f:
        lines = [line async for line in rt.io.BufReader(f).lines()]
    assert lines == [b"line %d" % i for i in range(5000)]
    async with await File.open(src) as f, await File.create(tmp_path / "dst") as g:
        assert await rt.io.copy(f, g) == src.stat().st_size
    assert (tmp_path / "dst").read_bytes() == src.read_bytes()
    async with await File.open(src) as f:
        assert isinstance(f, rt.io.AsyncRead)
        assert isinstance(f, rt.io.AsyncWrite)


async def test_a_second_task_using_the_file_meanwhile_gets_a_clear_error(
    tmp_path: pathlib.Path,
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    keep = os.open(fifo, os.O_RDWR)  # a writer, so opening for reading does not block
    try:
        f = await File.open(fifo)
        reader = rt.spawn(f.read(10))
        await rt.yield_now()
        with pytest.raises(RuntimeError, match="another task is using"):
            await f.read(10)
        os.write(keep, b"data")
        assert await reader == b"data"
        await f.close()
    finally:
        os.close(keep)


async def test_a_cancelled_read_loses_no_bytes(tmp_path: pathlib.Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    keep = os.open(fifo, os.O_RDWR)
    try:
        f = await File.open(fifo)
        reader = rt.spawn(f.read(100))
        await rt.yield_now()
        reader.abort()
        with pytest.raises(rt.JoinError) as info:
            await reader
        assert info.value.is_cancelled()
        # The pool is still blocked in that read; the bytes it gets go to the next read.
        os.write(keep, b"first")
        assert await f.read(100) == b"first"
        os.write(keep, b"second")
        assert await f.read(100) == b"second"
        await f.close()
    finally:
        os.close(keep)


async def test_cancelled_writes_and_flushes_never_tear_or_reorder_what_reaches_the_file(
    tmp_path: pathlib.Path,
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    os.set_blocking(rfd, False)
    received = bytearray()
    f = await OpenOptions().write().open(fifo)
    try:
        batch = b"A" * WRITE_BATCH  # far more than a pipe holds: the pool job blocks
        await f.write(batch)
        await wait_readable(rfd)  # the job is writing now

        # A full batch must wait for the one in flight: cancel it there.
        second = rt.spawn(f.write(b"B" * WRITE_BATCH))
        await rt.yield_now()
        second.abort()
        with pytest.raises(rt.JoinError):
            await second

        # Buffered bytes, then a flush cancelled while the first batch still blocks.
        await f.write(b"C" * 1000)
        flusher = rt.spawn(f.flush())
        await rt.yield_now()
        flusher.abort()
        with pytest.raises(rt.JoinError):
            await flusher
        await f.write(b"D" * 10)

        done = threading.Event()

        def drain() -> None:
            os.set_blocking(rfd, True)
            while chunk := os.read(rfd, 1 << 16):
                received.extend(chunk)
            done.set()

        t = threading.Thread(target=drain)
        t.start()
        await f.close()
        await rt.spawn_blocking(t.join)
    finally:
        os.close(rfd)
    assert bytes(received) == batch + b"C" * 1000 + b"D" * 10


async def test_a_file_dropped_unclosed_warns_and_still_writes_its_buffer(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "f"
    f = await File.create(path)
    await f.write(b"kept")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del f
        gc.collect()
    assert any(issubclass(w.category, ResourceWarning) for w in caught)
    assert path.read_bytes() == b"kept"


def test_file_and_its_builders_are_not_built_directly() -> None:
    with pytest.raises(TypeError, match=r"File\.open"):
        File()


async def test_reprs_name_the_public_types(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"")
    f = await File.open(path)
    assert repr(f).startswith("<rt.fs.File ")
    assert type(f).__module__ == "rt.fs"
    await f.close()
    assert "closed" in repr(f)
    assert "read write" in repr(OpenOptions().read().write())


@pytest.mark.parametrize("seed", range(6))
async def test_random_mixes_of_operations_match_a_model_of_the_file(
    tmp_path: pathlib.Path, seed: int
) -> None:
    import random

    rng = random.Random(seed)
    path = tmp_path / "model"
    model = bytearray(_data(rng.randrange(0, 3 * READ_AHEAD)))
    path.write_bytes(model)
    pos = 0
    sizes = [1, 7, 100, 4096, 65536, READ_AHEAD - 1, READ_AHEAD + 3, WRITE_BATCH + 11]
    async with await OpenOptions().read().write().open(path) as f:
        for _ in range(120):
            op = rng.choice(["read", "read", "write", "write", "seek", "exact", "len", "meta"])
            n = rng.choice(sizes)
            if op == "read":
                got = await f.read(n)
                want = bytes(model[pos : pos + n])
                assert want.startswith(got) and (got or not want)
                pos += len(got)
            elif op == "exact":
                if pos + n <= len(model):
                    assert await f.read_exact(n) == bytes(model[pos : pos + n])
                    pos += n
            elif op == "write":
                data = rng.randbytes(n)
                await f.write(data)
                if pos > len(model):
                    model.extend(b"\0" * (pos - len(model)))
                model[pos : pos + n] = data
                pos += n
            elif op == "seek":
                pos = rng.randrange(0, len(model) + 10)
                assert await f.seek(pos) == pos
            elif op == "len":
                size = rng.randrange(0, len(model) + 10)
                await f.set_len(size)
                del model[size:]
                model.extend(b"\0" * (size - len(model)))
            else:
                assert (await f.metadata()).st_size == max(len(model), 0)
                assert await f.tell() == pos
    assert path.read_bytes() == bytes(model)


async def test_a_loop_of_reads_served_from_the_read_ahead_lets_other_tasks_run(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100_000)
    ran = False

    async def other() -> None:
        nonlocal ran
        ran = True

    async with await File.open(path) as f:
        h = rt.spawn(other())
        for _ in range(5_000):
            assert await f.read(1) == b"x"
            if ran:
                break
        assert ran, "5,000 buffered reads never yielded to the scheduler"
        await h


async def test_reading_a_write_only_file_or_writing_a_read_only_one_says_so(
    tmp_path: pathlib.Path,
) -> None:
    import io

    path = tmp_path / "f"
    path.write_bytes(b"data")
    async with await File.open(path) as f:
        with pytest.raises(io.UnsupportedOperation, match="not open for writing"):
            await f.write(b"x")
        assert await f.read() == b"data"
    async with await OpenOptions().write().open(path) as f:
        for op in (f.read(), f.read_exact(1), f.read_to_end()):
            with pytest.raises(io.UnsupportedOperation, match="not open for reading"):
                await op
        await f.write(b"D")
    assert path.read_bytes() == b"Data"


@pytest.mark.parametrize("seed", range(3))
async def test_writes_aborted_at_random_points_leave_exactly_the_writes_that_returned(
    tmp_path: pathlib.Path, seed: int
) -> None:
    import random

    rng = random.Random(seed)
    path = tmp_path / "f"
    expected = bytearray()
    sizes = [10, 5000, 100_000, 600_000, WRITE_BATCH + 1]

    async def write(f: File, data: bytes, flush: bool) -> None:
        await f.write(data)
        expected.extend(data)  # returned: taken, so it must reach the file
        if flush:
            await f.flush()

    async with await File.create(path) as f:
        for _ in range(100):
            data = rng.randbytes(rng.choice(sizes))
            h = rt.spawn(write(f, data, flush=rng.random() < 0.2))
            for _ in range(rng.randrange(4)):
                await rt.yield_now()
            h.abort()
            try:
                await h
            except rt.JoinError as err:
                assert err.is_cancelled(), err
    assert path.read_bytes() == bytes(expected)


@pytest.mark.parametrize("seed", range(3))
async def test_reads_aborted_at_random_points_lose_and_repeat_no_byte(
    tmp_path: pathlib.Path, seed: int
) -> None:
    import random

    rng = random.Random(seed)
    path = tmp_path / "f"
    payload = rng.randbytes(5 * READ_AHEAD + 321)
    path.write_bytes(payload)
    got = bytearray()
    sizes = [1, 1000, 65536, READ_AHEAD, READ_AHEAD + 7]

    async def read(f: File, n: int, exact: bool) -> None:
        data = await (f.read_exact(n) if exact else f.read(n))
        got.extend(data)

    async with await File.open(path) as f:
        while len(got) < len(payload):
            n = min(rng.choice(sizes), len(payload) - len(got))
            h = rt.spawn(read(f, n, exact=rng.random() < 0.3))
            for _ in range(rng.randrange(4)):
                await rt.yield_now()
            h.abort()
            try:
                await h
            except rt.JoinError as err:
                assert err.is_cancelled(), err
        assert await f.read() == b""
    assert got == payload
