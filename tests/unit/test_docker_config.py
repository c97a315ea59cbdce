"""The Docker adapter's container configurations (pure: no engine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchest_service.docker import SOCKET_MOUNT, Limits, Mount, container_config


def config(**extra: Any) -> dict[str, Any]:
    return container_config(
        "img:1",
        ["python", "x.py"],
        env={"A": "1"},
        user="1000:100",
        labels={"orchest.role": "x"},
        limits=Limits(memory_bytes=512, cpus=0.5, pids=64),
        **extra,
    )


def test_every_container_is_unprivileged_limited_on_the_host_network() -> None:
    built = config()
    host = built["HostConfig"]
    assert host["NetworkMode"] == "host" and host["Init"] is True
    assert host["CapDrop"] == ["ALL"] and host["SecurityOpt"] == ["no-new-privileges"]
    assert host["Privileged"] is False
    assert (host["Memory"], host["MemorySwap"], host["NanoCpus"], host["PidsLimit"]) == (
        512,
        512,
        500_000_000,
        64,
    )
    assert host["Mounts"] == [] and host["Binds"] == [] and "GroupAdd" not in host
    assert built["Env"] == ["A=1"] and built["User"] == "1000:100"
    assert built["Labels"] == {"orchest.role": "x"} and "WorkingDir" not in built


def test_no_limit_set_is_none_and_mounts_refuse_a_missing_source() -> None:
    built = container_config(
        "img:1",
        [],
        env={},
        user="0:0",
        labels={},
        limits=Limits(),
        mounts=[Mount(Path("/p"), "/project-dir"), Mount(Path("/d"), "/data", create=True)],
        working_dir="/project-dir",
    )
    host = built["HostConfig"]
    assert not {"Memory", "MemorySwap", "NanoCpus", "PidsLimit"} & set(host)
    assert host["Mounts"] == [
        {"Type": "bind", "Source": "/p", "Target": "/project-dir", "ReadOnly": False}
    ]
    assert host["Binds"] == ["/d:/data"]
    assert built["WorkingDir"] == "/project-dir"


def test_only_a_named_engine_socket_is_mounted() -> None:
    assert not any("docker.sock" in str(m) for m in config()["HostConfig"]["Mounts"])
    built = config(engine_socket=Path("/run/docker.sock"), group_add=["999"])
    host = built["HostConfig"]
    assert host["Mounts"] == [
        {"Type": "bind", "Source": "/run/docker.sock", "Target": SOCKET_MOUNT, "ReadOnly": False}
    ]
    assert host["GroupAdd"] == ["999"]
