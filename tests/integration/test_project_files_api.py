"""``/api/projects/{project}/files``: list, read, write (If-Match), create
from a template, move and delete a project's files; every path escape
refused, nothing touched outside the project."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from uuid import uuid4

import nbformat
import pytest
from runs_harness import Stack


@pytest.fixture(scope="module")
def stack(module_stack: Stack) -> Stack:
    """One stack for the module's tests: each has a project of its own (``project``)."""
    return module_stack


@pytest.fixture
async def project(stack: Stack, tmp_path: Path) -> tuple[str, Path, Path]:
    """A project (uuid, folder) and a folder outside it, linked from inside."""
    name = f"files-{uuid4().hex[:8]}"  # the module's tests share one stack
    made = await stack.http.post("/api/projects", json={"name": name})
    assert made.status_code == 201, made.text
    root = Path(made.json()["path"])
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not yours")
    os.symlink(outside, root / "out-link")
    os.symlink(outside / "secret.txt", root / "secret-link.txt")
    (root / "data").mkdir()
    (root / "data" / "a.csv").write_text("x,y\n1,2\n")
    (root / "notes.md").write_text("# notes\n")
    return made.json()["uuid"], root, outside


async def test_list_a_folder(stack: Stack, project: tuple[str, Path, Path]) -> None:
    uuid, _, _ = project
    top = await stack.http.get(f"/api/projects/{uuid}/files")
    assert top.status_code == 200, top.text
    entries = [(e["name"], e["kind"]) for e in top.json()["entries"]]
    assert entries[0] == ("data", "folder")
    assert ("notes.md", "file") in entries
    data = (await stack.http.get(f"/api/projects/{uuid}/files", params={"path": "data"})).json()
    assert data["path"] == "data"
    [csv] = data["entries"]
    assert (csv["path"], csv["size"]) == ("data/a.csv", 8)


async def test_read_and_write_with_if_match(stack: Stack, project: tuple[str, Path, Path]) -> None:
    uuid, root, _ = project
    url = f"/api/projects/{uuid}/files/content"
    read = await stack.http.get(url, params={"path": "notes.md"})
    assert read.status_code == 200 and read.json()["content"] == "# notes\n"
    etag = read.json()["etag"]
    assert read.headers["etag"] == f'"{etag}"'
    written = await stack.http.put(
        url, params={"path": "notes.md"}, json={"content": "# new\n"}, headers={"If-Match": etag}
    )
    assert written.status_code == 200, written.text
    assert (root / "notes.md").read_text() == "# new\n"
    stale = await stack.http.put(
        url, params={"path": "notes.md"}, json={"content": "lost"}, headers={"If-Match": etag}
    )
    assert stale.status_code == 412
    assert (root / "notes.md").read_text() == "# new\n"
    created = await stack.http.put(url, params={"path": "sub/new.txt"}, json={"content": "é"})
    assert created.status_code == 200
    assert (root / "sub" / "new.txt").read_text() == "é"
    (root / "binary.bin").write_bytes(b"\xff\xfe\x00")
    binary = await stack.http.get(url, params={"path": "binary.bin"})
    assert binary.status_code == 422 and "UTF-8" in binary.text
    (root / "big.txt").write_text("x" * (256 * 1024 + 1))
    big = await stack.http.get(url, params={"path": "big.txt"})
    assert big.status_code == 413


@pytest.mark.parametrize(
    ("template", "path", "check"),
    [
        ("python", "steps/prep.py", "from orchest.parameters import get_params"),
        ("shell", "run.sh", "ORCHEST_PARAMETERS"),
        ("r", "model.R", "ORCHEST_PARAMETERS"),
        ("notebook", "explore.ipynb", "from orchest.parameters import get_params"),
    ],
)
async def test_create_a_step_file_from_a_template(
    stack: Stack, project: tuple[str, Path, Path], template: str, path: str, check: str
) -> None:
    uuid, root, _ = project
    url = f"/api/projects/{uuid}/files"
    created = await stack.http.post(url, json={"path": path, "template": template})
    assert created.status_code == 201, created.text
    text = (root / path).read_text()
    assert check in text
    if template == "notebook":
        notebook = nbformat.reads(text, as_version=4)
        nbformat.validate(notebook)
        assert notebook.metadata.kernelspec.name == "python3"
    again = await stack.http.post(url, json={"path": path, "template": template})
    assert again.status_code == 409
    assert (root / path).read_text() == text


async def test_an_r_notebook_and_a_wrong_extension(
    stack: Stack, project: tuple[str, Path, Path]
) -> None:
    uuid, root, _ = project
    url = f"/api/projects/{uuid}/files"
    made = await stack.http.post(
        url, json={"path": "r.ipynb", "template": "notebook", "kernel": "ir"}
    )
    assert made.status_code == 201
    metadata = json.loads((root / "r.ipynb").read_text())["metadata"]
    assert metadata["kernelspec"]["language"] == "R"
    wrong = await stack.http.post(url, json={"path": "x.txt", "template": "python"})
    assert wrong.status_code == 422 and ".py" in wrong.text


async def test_move_and_delete(stack: Stack, project: tuple[str, Path, Path]) -> None:
    uuid, root, _ = project
    url = f"/api/projects/{uuid}/files"
    moved = await stack.http.post(
        f"{url}/move", json={"source": "notes.md", "destination": "docs/notes.md"}
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["path"] == "docs/notes.md"
    assert (root / "docs" / "notes.md").exists() and not (root / "notes.md").exists()
    taken = await stack.http.post(
        f"{url}/move", json={"source": "docs/notes.md", "destination": "data/a.csv"}
    )
    assert taken.status_code == 409
    into_itself = await stack.http.post(
        f"{url}/move", json={"source": "data", "destination": "data/inner"}
    )
    assert into_itself.status_code == 422
    not_empty = await stack.http.delete(url, params={"path": "data"})
    assert not_empty.status_code == 409
    gone = await stack.http.delete(url, params={"path": "data", "recursive": "true"})
    assert gone.status_code == 200
    assert not (root / "data").exists()
    missing = await stack.http.delete(url, params={"path": "nothing.txt"})
    assert missing.status_code == 404


ESCAPES = ["../escape.txt", "/etc/passwd", "out-link/secret.txt", "secret-link.txt", "data/../../x"]


@pytest.mark.parametrize("path", ESCAPES)
async def test_every_path_escape_is_refused(
    stack: Stack, project: tuple[str, Path, Path], path: str
) -> None:
    uuid, root, outside = project
    url = f"/api/projects/{uuid}/files"
    attempts = [
        stack.http.get(url, params={"path": path}),
        stack.http.get(f"{url}/content", params={"path": path}),
        stack.http.put(f"{url}/content", params={"path": path}, json={"content": "pwned"}),
        # A new file through a link to a file names a file beside the link:
        # only the paths through a folder leading out are escapes for a create.
        *(
            [stack.http.post(url, json={"path": path + ".py", "template": "python"})]
            if path != "secret-link.txt"
            else []
        ),
        stack.http.post(f"{url}/move", json={"source": "notes.md", "destination": path}),
        stack.http.post(f"{url}/move", json={"source": path, "destination": "moved.txt"}),
        stack.http.delete(url, params={"path": path}),
    ]
    for response in await asyncio.gather(*attempts):
        assert response.status_code == 422, (path, response.request.method, response.text)
    assert sorted(os.listdir(outside)) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "not yours"
    assert (root / "notes.md").read_text() == "# notes\n"
    assert not (root.parent / "escape.txt").exists()
