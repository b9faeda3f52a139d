"""The eBPF helpers: the BTF reader on a hand-built blob and on the running kernel's, the
instruction encoding, and a real program loaded, attached and read through its ring."""

from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path

import pytest

from stockade.runtime.sensors import bpf
from stockade.runtime.sensors.bpf import R0, R1, R2, R6, R10, BpfUnavailable, Btf, RingBuffer


def _btf(strings: bytes, types: bytes) -> bytes:
    header = struct.pack("=HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strings))
    return header + types + strings


def _type(name: int, kind: int, vlen: int, size: int, kind_flag: int = 0) -> bytes:
    return struct.pack("=III", name, kind << 24 | vlen | kind_flag << 31, size)


def _sample() -> bytes:
    """``struct outer { int a; union { int x; struct { int y; int z; }; }; }`` after a
    typedef and a const, and ``struct bits`` whose member is a bit field."""
    strings = b"\0int\0outer\0a\0x\0y\0z\0bits\0f\0alias\0"
    at = {
        name: strings.index(b"\0" + name.encode() + b"\0") + 1
        for name in ("int", "outer", "a", "x", "y", "z", "bits", "f", "alias")
    }
    types = b"".join(
        [
            _type(at["int"], 1, 0, 4) + struct.pack("=I", 32),  # 1: int
            _type(0, 4, 2, 8)  # 2: anonymous struct { y, z }
            + struct.pack("=III", at["y"], 1, 0)
            + struct.pack("=III", at["z"], 1, 32),
            _type(at["alias"], 8, 0, 2),  # 3: typedef alias -> 2
            _type(0, 10, 0, 3),  # 4: const alias
            _type(0, 5, 2, 8)  # 5: anonymous union { x; const alias; }
            + struct.pack("=III", at["x"], 1, 0)
            + struct.pack("=III", 0, 4, 0),
            _type(at["outer"], 4, 2, 12)  # 6: struct outer
            + struct.pack("=III", at["a"], 1, 0)
            + struct.pack("=III", 0, 5, 32),
            _type(at["bits"], 4, 1, 4, kind_flag=1)  # 7: struct bits { int f:3 at bit 5 }
            + struct.pack("=III", at["f"], 1, 3 << 24 | 5),
        ]
    )
    return _btf(strings, types)


def test_btf_finds_members_inside_anonymous_unions_and_structs() -> None:
    btf = Btf(_sample())
    assert btf.offset("outer", "a") == 0
    assert btf.offset("outer", "x") == 4
    assert btf.offset("outer", "y") == 4  # through the union, the const and the typedef
    assert btf.offset("outer", "z") == 8


def test_btf_refuses_what_it_cannot_answer() -> None:
    btf = Btf(_sample())
    with pytest.raises(KeyError, match="no member"):
        btf.offset("outer", "nothing")
    with pytest.raises(KeyError, match="not in the kernel"):
        btf.offset("absent", "a")
    with pytest.raises(KeyError, match="bit field"):
        btf.offset("bits", "f")
    with pytest.raises(ValueError, match="magic"):
        Btf(b"\0" * 64)
    with pytest.raises(ValueError, match="short"):
        Btf(b"\x9f\xeb")


def test_btf_of_a_missing_file_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(BpfUnavailable, match="no kernel BTF"):
        Btf.kernel(tmp_path / "vmlinux")


def test_instructions_encode_as_the_kernel_reads_them() -> None:
    assert bpf.mov(R6, R1).encode() == bytes([0xBF, 0x16, 0, 0, 0, 0, 0, 0])
    assert bpf.add_imm(R1, -8).encode() == bytes([0x07, 0x01, 0, 0]) + struct.pack("<i", -8)
    assert bpf.load(8, R0, R10, -16).encode()[:4] == bytes([0x79, 0xA0]) + struct.pack("<h", -16)
    assert bpf.store_imm(4, R10, -4, 7).encode() == bytes([0x62, 0x0A]) + struct.pack("<hi", -4, 7)
    assert bpf.jump_if("<=", R2, 100, 1).encode() == bytes([0xB5, 0x02, 1, 0]) + struct.pack(
        "<i", 100
    )
    first, second = bpf.load_map(R1, 9)
    assert first.encode() == bytes([0x18, 0x11, 0, 0]) + struct.pack("<i", 9)
    assert second.encode() == bytes(8)


def _kernel_btf() -> Btf:
    if not Path("/sys/kernel/btf/vmlinux").exists():
        pytest.skip("this kernel has no BTF (/sys/kernel/btf/vmlinux)")
    return Btf.kernel()


def test_the_running_kernels_btf_has_the_members_the_exec_program_reads() -> None:
    btf = _kernel_btf()
    assert btf.offset("mm_struct", "arg_end") - btf.offset("mm_struct", "arg_start") == 8
    assert btf.offset("task_struct", "tgid") - btf.offset("task_struct", "pid") == 4
    assert btf.offset("linux_binprm", "filename") > 0


@pytest.mark.root
def test_a_program_on_a_real_tracepoint_writes_to_the_ring_and_counts_in_a_map() -> None:
    """A minimal program: each exec writes the current pid/tgid into the ring and adds
    one to an array map; an exec of a child shows in both."""
    if os.geteuid() != 0:
        pytest.skip("eBPF needs root")
    size = 64 * 1024
    try:
        ring = bpf.create_map(bpf.MAP_RINGBUF, 0, 0, size, "stk_test_ring")
    except BpfUnavailable as exc:
        pytest.skip(f"no eBPF here: {exc}")
    counter = bpf.create_map(bpf.MAP_ARRAY, 4, 8, 1, "stk_test_count")
    program = [
        *bpf.count_one(counter, -4),
        *bpf.load_map(R1, ring),
        bpf.mov_imm(R2, 8),
        bpf.mov_imm(bpf.R3, 0),
        bpf.call(bpf.RINGBUF_RESERVE),
        bpf.jump_if("==", R0, 0, 6),
        bpf.mov(R6, R0),
        bpf.call(bpf.GET_CURRENT_PID_TGID),
        bpf.store(8, R6, 0, R0),
        bpf.mov(R1, R6),
        bpf.mov_imm(R2, 0),
        bpf.call(bpf.RINGBUF_SUBMIT),
        bpf.mov_imm(R0, 0),
        bpf.exit_(),
    ]
    fds = [ring, counter]
    try:
        fd = bpf.load_program(bpf.PROG_RAW_TRACEPOINT, program, "stk_test", license_="GPL")
        fds.append(fd)
        fds.append(bpf.raw_tracepoint_open("sched_process_exec", fd))
        reader = RingBuffer(ring, size)
        before = bpf.lookup_u64(counter, 0)
        child = subprocess.run(["/bin/true"], check=True)
        assert child.returncode == 0
        pids = [struct.unpack("=Q", record)[0] >> 32 for record in reader.records()]
        reader.close()
        assert bpf.lookup_u64(counter, 0) > before
        assert len(pids) >= 1
        assert all(pid > 0 for pid in pids)
    finally:
        for descriptor in reversed(fds):
            os.close(descriptor)


@pytest.mark.root
def test_a_program_the_verifier_refuses_says_why() -> None:
    if os.geteuid() != 0:
        pytest.skip("eBPF needs root")
    no_result = [bpf.exit_()]  # returns R0 without setting it
    with pytest.raises(BpfUnavailable, match="refused") as refused:
        bpf.load_program(bpf.PROG_RAW_TRACEPOINT, no_result, "stk_bad", license_="GPL")
    assert "R0 !read_ok" in str(refused.value)  # the verifier's own words


def test_jumps_to_labels_become_offsets() -> None:
    program = bpf.assemble(
        [
            bpf.jump_if("==", R1, 0, "out"),
            bpf.mov_imm(R0, 1),
            bpf.jump("out"),
            bpf.Label("unused"),
            bpf.mov_imm(R0, 2),
            bpf.Label("out"),
            bpf.exit_(),
        ]
    )
    assert [insn.off for insn in program] == [3, 0, 1, 0, 0]
    with pytest.raises(ValueError, match="no label"):
        bpf.assemble([bpf.jump("nowhere")])
    with pytest.raises(ValueError, match="twice"):
        bpf.assemble([bpf.Label("a"), bpf.Label("a")])
