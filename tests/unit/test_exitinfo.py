"""exitinfo without processes: texts, JSON, and parsing hand-built struct pidfd_info buffers."""

import ast
import json
import os
import pathlib
import struct
import subprocess
import sys
import time

import pytest

from usrsvcmod.proc import exitinfo
from usrsvcmod.proc.exitinfo import ExitStatus

AT = 1700000000.123456


def _info(mask, exit_code=0, size=64):
    """A struct pidfd_info as the kernel fills it in (native byte order)."""
    buffer = bytearray(size)
    struct.pack_into("=Q", buffer, 0, mask)
    struct.pack_into("=Q", buffer, 8, 0x1234)  # cgroupid
    struct.pack_into("=11I", buffer, 16, *range(100, 111))  # pid .. fsgid
    struct.pack_into("=i", buffer, 60, exit_code)
    return bytes(buffer)


REAPED = exitinfo.PIDFD_INFO_EXIT | exitinfo.PIDFD_INFO_CGROUPID


def test_describe_exit_codes():
    assert ExitStatus(code=42, at=AT).describe() == "exited with status 42"
    assert ExitStatus(code=0, at=AT).describe() == "exited with status 0"
    assert ExitStatus(code=255, at=AT).describe() == "exited with status 255"


def test_describe_signals():
    assert ExitStatus(signal=9, at=AT).describe() == "killed by signal 9 (SIGKILL)"
    assert ExitStatus(signal=15, at=AT).describe() == "killed by signal 15 (SIGTERM)"
    assert (ExitStatus(signal=11, core=True, at=AT).describe()
            == "killed by signal 11 (SIGSEGV, core dumped)")


def test_describe_signal_without_a_name():
    assert ExitStatus(signal=200, at=AT).describe() == "killed by signal 200"
    assert (ExitStatus(signal=200, core=True, at=AT).describe()
            == "killed by signal 200 (core dumped)")


def test_as_json_matches_spec_last_exit():
    assert ExitStatus(code=42, at=AT).as_json() == {"code": 42, "at": 1700000000.12}
    assert ExitStatus(code=0, at=AT).as_json() == {"code": 0, "at": 1700000000.12}
    assert (ExitStatus(signal=9, at=AT).as_json()
            == {"signal": 9, "core": False, "at": 1700000000.12})
    assert (ExitStatus(signal=11, core=True, at=AT).as_json()
            == {"signal": 11, "core": True, "at": 1700000000.12})
    # it is plain JSON, and reads back
    for status in (ExitStatus(code=42, at=AT), ExitStatus(signal=11, core=True, at=AT)):
        again = ExitStatus.from_json(json.loads(json.dumps(status.as_json())))
        assert again.as_json() == status.as_json()


def test_at_defaults_to_now():
    before = time.time()
    status = ExitStatus(code=1)
    assert before <= status.at <= time.time()


def test_from_wait_status_has_wait_semantics():
    assert ExitStatus.from_wait_status(42 << 8, at=AT) == ExitStatus(code=42, at=AT)
    assert ExitStatus.from_wait_status(0, at=AT) == ExitStatus(code=0, at=AT)
    assert ExitStatus.from_wait_status(9, at=AT) == ExitStatus(signal=9, at=AT)
    assert ExitStatus.from_wait_status(11 | 0x80, at=AT) == ExitStatus(signal=11, core=True, at=AT)
    assert ExitStatus.from_wait_status(0x137f, at=AT) is None  # stopped by SIGSTOP: not an end


def test_parse_exit_code():
    status = exitinfo._parse(_info(REAPED, 42 << 8), at=AT)
    assert (status.code, status.signal, status.core, status.at) == (42, None, False, AT)
    assert exitinfo._parse(_info(REAPED, 0), at=AT).code == 0


def test_parse_signal_with_core():
    status = exitinfo._parse(_info(REAPED, 11 | 0x80), at=AT)
    assert (status.code, status.signal, status.core) == (None, 11, True)
    status = exitinfo._parse(_info(REAPED, 9), at=AT)
    assert (status.code, status.signal, status.core) == (None, 9, False)


def test_parse_without_the_exit_bit_is_none():
    # a live process or an unreaped zombie: pid, creds and cgroup, no exit status
    live = exitinfo.PIDFD_INFO_PID | exitinfo.PIDFD_INFO_CREDS | exitinfo.PIDFD_INFO_CGROUPID
    assert exitinfo._parse(_info(live, 0)) is None
    assert exitinfo._parse(_info(live, 42 << 8)) is None  # exit_code is only valid with the bit
    assert exitinfo._parse(_info(0, 0)) is None


def test_parse_accepts_newer_struct_sizes_and_rejects_short_ones():
    assert exitinfo._parse(_info(REAPED, 3 << 8, size=88), at=AT).code == 3
    with pytest.raises(ValueError):
        exitinfo._parse(_info(REAPED, 3 << 8)[:60])


def test_ioctl_number():
    # _IOWR(0xFF, 11, struct pidfd_info) with sizeof == PIDFD_INFO_SIZE_VER0 (64)
    assert exitinfo._iowr(0xFF, 11, 64, "x86_64") == 0xC040FF0B
    assert exitinfo._iowr(0xFF, 11, 64, "aarch64") == 0xC040FF0B
    assert exitinfo._iowr(0xFF, 11, 64, "ppc64le") == 0xC040FF0B  # (2|4) << 29 == 3 << 30
    assert exitinfo._iowr(0xFF, 11, 64, "mips") == 0xC040FF0B


def test_kernel_version():
    assert exitinfo._kernel_version("6.18.44-fc-v857") == (6, 18)
    assert exitinfo._kernel_version("6.15.0") == (6, 15)
    assert exitinfo._kernel_version("5.15.0-91-generic") == (5, 15)
    assert exitinfo._kernel_version("6.1-rc3") == (6, 1)
    assert exitinfo._kernel_version("weird") == (0, 0)


def test_read_of_something_that_is_not_a_pidfd_is_none(tmp_path):
    with open(tmp_path / "f", "w") as handle:
        assert exitinfo.read(handle.fileno()) is None


def test_read_of_a_closed_fd_raises():
    read_end, write_end = os.pipe()
    os.close(read_end)
    os.close(write_end)
    with pytest.raises(OSError):
        exitinfo.read(read_end)


def test_supported_is_cached_and_boolean():
    first = exitinfo.supported()
    assert first in (True, False)
    assert exitinfo.supported() is first


def test_import_is_cheap():
    code = ("import sys; before = set(sys.modules); import usrsvcmod.proc.exitinfo; "
            "print(sorted(set(sys.modules) - before))")
    root = pathlib.Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(root)).stdout
    added = set(ast.literal_eval(out))
    allowed = {"usrsvcmod", "usrsvcmod.proc", "usrsvcmod.proc.exitinfo",
               "errno", "fcntl", "struct", "_struct"}
    assert added <= allowed, added - allowed
