"""rt.fs free functions on real files in a temporary directory."""

from __future__ import annotations

import os
import pathlib
import shutil
import stat

import pytest

import rt
import rt.fs
import rt.time

ROOT_PROOF_READ_ONLY = "/sys/kernel/uevent_seqnum"


async def test_write_then_read_and_read_to_string(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f.txt"
    await rt.fs.write(path, b"caf\xc3\xa9\n")
    assert await rt.fs.read(path) == b"caf\xc3\xa9\n"
    assert await rt.fs.read_to_string(path) == "café\n"
    await rt.fs.write(str(path), "text, encoded as UTF-8")
    assert path.read_text() == "text, encoded as UTF-8"
    buf = bytearray(b"from a bytearray")
    await rt.fs.write(os.fsencode(path), buf)
    assert await rt.fs.read(os.fsencode(path)) == b"from a bytearray"


async def test_read_to_string_of_invalid_utf8_is_a_unicode_decode_error(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "bin"
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(UnicodeDecodeError):
        await rt.fs.read_to_string(path)
    assert await rt.fs.read_to_string(path, errors="replace") == "\ufffd\ufffd"


async def test_missing_paths_raise_file_not_found_naming_the_path(tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "missing"
    for call in (
        rt.fs.read(missing),
        rt.fs.read_to_string(missing),
        rt.fs.metadata(missing),
        rt.fs.symlink_metadata(missing),
        rt.fs.remove_file(missing),
        rt.fs.remove_dir(missing),
        rt.fs.remove_dir_all(missing),
        rt.fs.canonicalize(missing),
        rt.fs.read_link(missing),
        rt.fs.set_permissions(missing, 0o644),
        rt.fs.copy(missing, tmp_path / "x"),
        rt.fs.rename(missing, tmp_path / "x"),
    ):
        with pytest.raises(FileNotFoundError) as info:
            await call
        assert str(missing) in str(info.value)


async def test_a_directory_where_a_file_belongs_is_an_is_a_directory_error(
    tmp_path: pathlib.Path,
) -> None:
    with pytest.raises(IsADirectoryError):
        await rt.fs.read(tmp_path)
    with pytest.raises(IsADirectoryError):
        await rt.fs.write(tmp_path, b"x")
    with pytest.raises(IsADirectoryError):
        await rt.fs.remove_file(tmp_path)


async def test_writing_where_even_root_may_not_is_a_permission_error(
    tmp_path: pathlib.Path,
) -> None:
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        target = str(locked / "f")
    elif os.path.exists(ROOT_PROOF_READ_ONLY):
        target = ROOT_PROOF_READ_ONLY
    else:  # pragma: no cover - depends on the machine
        pytest.skip("running as root, which bypasses permission bits, and no sysfs to test on")
    with pytest.raises(PermissionError):
        await rt.fs.write(target, b"x")


async def test_copy_copies_contents_and_permission_bits(tmp_path: pathlib.Path) -> None:
    src = tmp_path / "src"
    src.write_bytes(b"payload" * 1000)
    src.chmod(0o640)
    assert await rt.fs.copy(src, tmp_path / "dst") == 7000
    assert (tmp_path / "dst").read_bytes() == src.read_bytes()
    assert stat.S_IMODE((tmp_path / "dst").stat().st_mode) == 0o640
    with pytest.raises(shutil.SameFileError):
        await rt.fs.copy(src, src)


async def test_rename_replaces_the_destination(tmp_path: pathlib.Path) -> None:
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "b").write_bytes(b"b")
    await rt.fs.rename(tmp_path / "a", tmp_path / "b")
    assert not (tmp_path / "a").exists()
    assert (tmp_path / "b").read_bytes() == b"a"


async def test_directories_are_created_and_removed(tmp_path: pathlib.Path) -> None:
    deep = tmp_path / "x" / "y" / "z"
    with pytest.raises(FileNotFoundError):
        await rt.fs.create_dir(deep)
    await rt.fs.create_dir_all(deep)
    await rt.fs.create_dir_all(deep)  # already there: fine
    with pytest.raises(FileExistsError):
        await rt.fs.create_dir(deep)
    (deep / "f").write_bytes(b"")
    with pytest.raises(OSError) as info:
        await rt.fs.remove_dir(tmp_path / "x")
    assert info.value.errno == 39 or "not empty" in str(info.value).lower()
    with pytest.raises(NotADirectoryError):
        await rt.fs.remove_dir_all(deep / "f")
    await rt.fs.remove_dir_all(tmp_path / "x")
    assert not (tmp_path / "x").exists()
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(FileExistsError):
        await rt.fs.create_dir_all(tmp_path / "file")


async def test_remove_dir_all_removes_a_link_inside_but_not_its_target(
    tmp_path: pathlib.Path,
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_bytes(b"")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "link").symlink_to(outside)
    await rt.fs.remove_dir_all(tree)
    assert (outside / "keep").exists()
    with pytest.raises(NotADirectoryError):
        (tmp_path / "dirlink").symlink_to(outside)
        await rt.fs.remove_dir_all(tmp_path / "dirlink")


async def test_links_metadata_and_canonicalize(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"12345")
    await rt.fs.symlink("target", tmp_path / "soft")
    await rt.fs.hard_link(target, tmp_path / "hard")
    assert await rt.fs.read_link(tmp_path / "soft") == "target"
    assert await rt.fs.read_link(os.fsencode(tmp_path / "soft")) == b"target"
    assert (await rt.fs.metadata(tmp_path / "soft")).st_size == 5
    lmeta = await rt.fs.symlink_metadata(tmp_path / "soft")
    assert rt.fs.FileType.of(lmeta).is_symlink()
    assert (await rt.fs.metadata(tmp_path / "hard")).st_nlink == 2
    canon = await rt.fs.canonicalize(tmp_path / "." / "soft")
    assert canon == os.path.realpath(target)
    with pytest.raises(OSError):
        await rt.fs.read_link(target)  # not a link
    with pytest.raises(FileExistsError):
        await rt.fs.symlink("target", tmp_path / "hard")


async def test_set_permissions_takes_bits_or_a_stat_result(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"")
    await rt.fs.set_permissions(path, 0o600)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    other = tmp_path / "g"
    other.write_bytes(b"")
    await rt.fs.set_permissions(other, await rt.fs.metadata(path))
    assert stat.S_IMODE(other.stat().st_mode) == 0o600
    with pytest.raises(ValueError, match="0o7777"):
        await rt.fs.set_permissions(path, 0o17777)


async def test_try_exists_is_false_only_for_not_found(tmp_path: pathlib.Path) -> None:
    (tmp_path / "f").write_bytes(b"")
    assert await rt.fs.try_exists(tmp_path / "f")
    assert not await rt.fs.try_exists(tmp_path / "missing")
    (tmp_path / "dangling").symlink_to(tmp_path / "missing")
    assert not await rt.fs.try_exists(tmp_path / "dangling")
    with pytest.raises(NotADirectoryError):
        await rt.fs.try_exists(tmp_path / "f" / "below")


async def test_bad_path_types_fail_at_the_call_naming_the_argument() -> None:
    with pytest.raises(TypeError, match=r"src must be a str, bytes or os\.PathLike"):
        await rt.fs.copy(None, "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="path must be"):
        await rt.fs.read(3.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="bytes-like or str"):
        await rt.fs.write("x", 5)  # type: ignore[arg-type]


async def test_a_cancelled_write_still_completes_in_the_background(
    tmp_path: pathlib.Path,
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    h = rt.spawn(rt.fs.write(fifo, b"all of it"))  # blocks in open() until a reader comes
    await rt.yield_now()
    h.abort()
    with pytest.raises(rt.JoinError) as info:
        await h
    assert info.value.is_cancelled()

    def read_fifo() -> bytes:
        with open(fifo, "rb") as f:
            return f.read()

    assert await rt.spawn_blocking(read_fifo) == b"all of it"
    # The write's own blocking job ends just after the reader sees end of file, and the
    # runtime counts it as a live task until then: wait for that, so that the test leaves
    # nothing running (the plugin warns about a task still alive when a test ends).
    metrics = rt.Handle.current().metrics
    with rt.time.timeout(10):
        while metrics().alive_tasks > 1:  # this test's own task
            await rt.sleep(0.001)
