"""The pipeline editor in a real browser against a real stack.

From an empty project made on Home, by mouse: a pipeline made, three steps
added from templates (a Python script, a notebook, a shell script),
connected, a step parameter typed (a wrong JSON first, shown inline), a
step deleted and brought back with undo and redo, steps moved (one, then
two selected together), auto-layout, a cycle drawn and shown on its steps
and connections with the run buttons disabled (saved as a draft), undone; a
connection removed with its "runs after" box and brought back.
Then the file on disk is checked to be what Orchest writes; it runs through
``orchest run`` to SUCCESS, its first step reading its parameter with the
Orchest SDK's ``get_step_param``. Then the file is edited on disk and the
open canvas follows; then an unsaved edit meets a change on disk: resolved
by reloading, then by overwriting. Last, with the pipeline's session
running, a step's "open in JupyterLab" link opens its file in Lab.

Screenshots in the test's ``tmp_path``, or ``ORCHEST_TEST_SCREENSHOTS``
(how ``docs/images/editor.png`` is made).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from dashboard_browser import api, dashboard_stack, signed_in_page
from e2e_stack import Stack
from lab_browser import screenshots_dir
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from orchest_schemas.pipeline import PipelineDefinition

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

GREETING = "hello from the editor"
STEP_KEYS = {
    "uuid",
    "title",
    "file_path",
    "incoming_connections",
    "environment",
    "kernel",
    "parameters",
    "meta_data",
}
LOAD_PY = 'import orchest\n\nprint("greeting:", orchest.get_step_param("greeting"))\n'


INSIDE_CANVAS = """handle => {
    const h = handle.getBoundingClientRect();
    const c = document.querySelector("[data-testid=editor-canvas]").getBoundingClientRect();
    return h.left >= c.left && h.right <= c.right && h.top >= c.top && h.bottom <= c.bottom;
}"""
"""The view fitted: a handle is in the canvas (the fit moves the view at once)."""

WATCH_BLINKS = """() => {
    window.blinks = [];
    const shown = new WeakSet();
    new MutationObserver(records => {
        for (const { target } of records) {
            if (!target.matches(".react-flow__node")) continue;
            if (target.style.visibility === "visible") shown.add(target);
            else if (target.style.visibility === "hidden" && shown.has(target)) {
                window.blinks.push(target.querySelector(".step-title")?.textContent);
            }
        }
    }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ["style"] });
}"""
"""Records each step hidden again once shown (React Flow hides a node it has
to measure again: on a canvas that gave it new nodes without their sizes, a
click or a drop in that moment missed the step)."""


def node(page: Page, title: str) -> Locator:
    return page.locator(".react-flow__node", has=page.locator(f'.step-title:text-is("{title}")'))


def centre(locator: Locator) -> tuple[float, float]:
    box = locator.bounding_box()
    assert box is not None
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def drag(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=12)
    page.mouse.up()


FIT_TRIES = 5
FIT_WAIT_MS = 10_000


def connect(page: Page, source: str, target: str, count: int) -> None:
    """From the source's right handle to the target's left one, then
    ``count`` connections on the canvas (every step in view first: the view
    is fitted again, as a user would, when a step or the canvas moved after
    the fit, e.g. a step measured or a panel opened late)."""
    start = node(page, source).locator(".react-flow__handle.source")
    end = node(page, target).locator(".react-flow__handle.target")
    for _ in range(FIT_TRIES):
        page.locator(".react-flow__controls-fitview").click()
        try:
            for handle in (start, end):
                page.wait_for_function(
                    INSIDE_CANVAS, arg=handle.element_handle(), timeout=FIT_WAIT_MS
                )
            break
        except PlaywrightTimeout:
            continue
    else:
        pytest.fail(
            f"{source} and {target} not both in view after {FIT_TRIES} fits: {where(page, start, end)}"
        )
    before = where(page, start, end)
    drag(page, centre(start), centre(end))
    try:
        edges(page, count)
    except AssertionError as error:
        raise AssertionError(
            f"{error}\nbefore the drag from {source} to {target}: {before}\n"
            f"after it: {where(page, start, end)}"
        ) from None


def where(page: Page, *handles: Locator) -> str:
    """The canvas's and the handles' boxes (None: not found or not shown), for a failure."""
    boxes = []
    for locator in (page.get_by_test_id("editor-canvas"), *handles):
        try:
            boxes.append(locator.bounding_box(timeout=1_000))
        except PlaywrightError:  # not found in time, or several
            boxes.append(None)
    canvas, *rest = boxes
    viewport = page.locator(".react-flow__viewport").get_attribute("style")
    return f"canvas {canvas}, handles {rest}, viewport {viewport}"


def move(page: Page, title: str, dx: float, dy: float) -> None:
    x, y = centre(node(page, title).locator(".step-file"))
    drag(page, (x, y), (x + dx, y + dy))


def saved(page: Page) -> None:
    expect(page.get_by_test_id("save-state")).to_have_attribute("data-state", "saved")


def edges(page: Page, count: int) -> None:
    expect(page.locator(".react-flow__edge")).to_have_count(count)


def add_step(page: Page, template: str, path: str, count: int) -> None:
    page.get_by_test_id("add-step-button").click()
    page.get_by_test_id("template").select_option(template)
    page.get_by_test_id("new-file-path").fill(path)
    page.get_by_role("button", name="Create and add").click()
    expect(page.locator(".react-flow__node")).to_have_count(count)


def on_disk(pipeline_file: Path) -> dict[str, Any]:
    content: dict[str, Any] = json.loads(pipeline_file.read_text())
    return content


def by_title(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["title"]: step for step in definition["steps"].values()}


def build_pipeline(page: Page, shots: Path) -> dict[str, Any]:
    """Everything done by mouse (and keyboard) from Home; what was seen."""
    seen: dict[str, Any] = {}
    # An empty project, then a pipeline in it, from Home.
    page.get_by_placeholder("name").first.fill("editor-demo")
    page.get_by_role("combobox").first.select_option("")
    page.get_by_role("button", name="Create", exact=True).click()
    project = page.locator(".project", has=page.locator('h3 a:text-is("editor-demo")'))
    expect(project.get_by_text("No pipeline in this project.")).to_be_visible()
    project.get_by_test_id("new-pipeline").get_by_placeholder("name").fill("greet")
    project.get_by_role("button", name="Create and edit").click()
    page.wait_for_url(re.compile(r"/pipelines/[0-9a-f-]+/edit$"))
    saved(page)
    page.evaluate(WATCH_BLINKS)

    add_step(page, "python", "load", 1)
    add_step(page, "notebook-python", "transform", 2)
    add_step(page, "shell", "report", 3)
    connect(page, "load", "transform", 1)
    connect(page, "transform", "report", 2)
    connect(page, "report", "report", 2)  # a self-loop: refused on the canvas

    # A parameter of "load": a wrong JSON is shown and not taken, then a right one.
    node(page, "load").click()
    params = page.get_by_test_id("step-parameters")
    params.fill('{"greeting": ')
    expect(params).to_have_attribute("aria-invalid", "true")
    seen["json_error"] = page.locator("#step-parameters-error").text_content()
    params.fill(json.dumps({"greeting": GREETING}))
    expect(params).to_have_attribute("aria-invalid", "false")

    # Delete a step (its connection goes too), undo, redo, undo.
    node(page, "report").click()
    page.keyboard.press("Delete")
    expect(page.locator(".react-flow__node")).to_have_count(2)
    edges(page, 1)
    page.keyboard.press("Control+z")
    expect(page.locator(".react-flow__node")).to_have_count(3)
    edges(page, 2)
    page.keyboard.press("Control+Shift+z")
    expect(page.locator(".react-flow__node")).to_have_count(2)
    page.get_by_role("button", name="Undo").click()
    expect(page.locator(".react-flow__node")).to_have_count(3)
    edges(page, 2)

    # Auto-layout, then one step moved down, then two selected and moved right.
    page.get_by_role("button", name="Auto-layout").click()
    saved(page)
    seen["laid_out"] = capture_positions(page)
    move(page, "transform", 0, 120)
    node(page, "load").click()
    node(page, "report").click(modifiers=["Shift"])
    expect(page.locator(".react-flow__node.selected")).to_have_count(2)
    move(page, "load", 90, 0)
    saved(page)
    seen["moved"] = capture_positions(page)

    # A cycle: shown on its steps and connections, the run buttons disabled; saved all the same.
    connect(page, "report", "load", 3)
    saved(page)
    expect(page.locator(".react-flow__node [data-problem=true]")).to_have_count(3)
    expect(page.locator(".react-flow__edge[data-problem=true]")).to_have_count(3)
    expect(page.get_by_test_id("run-blocked")).to_contain_text("cycle")
    expect(page.locator("button[data-run-type=full]")).to_be_disabled()
    seen["cycle_on_disk"] = True
    page.screenshot(path=str(shots / "editor-cycle.png"))
    page.get_by_role("button", name="Undo").click()
    edges(page, 2)
    saved(page)
    expect(page.locator(".react-flow__node [data-problem=true]")).to_have_count(0)
    expect(page.locator("button[data-run-type=full]")).to_be_enabled()
    # Connections from the keyboard too: the step's "runs after" boxes.
    node(page, "report").click()
    runs_after = page.locator(".runs-after").get_by_label("transform")
    expect(runs_after).to_be_checked()
    runs_after.uncheck()
    edges(page, 1)
    page.get_by_role("button", name="Undo").click()
    edges(page, 2)
    expect(runs_after).to_be_checked()
    saved(page)
    node(page, "load").click()
    page.screenshot(path=str(shots / "editor.png"))
    assert page.evaluate("window.blinks") == [], "steps hidden again once shown"
    seen["url"] = page.url
    return seen


def capture_positions(page: Page) -> dict[str, tuple[float, float]]:
    """Each step's place on the screen."""
    return {title: centre(node(page, title)) for title in ("load", "transform", "report")}


def check_orchest_format(pipeline_file: Path) -> None:
    """The file as Orchest writes it: four-space JSON, every field of a step."""
    text = pipeline_file.read_text()
    definition = json.loads(text)
    assert text == json.dumps(definition, indent=4, ensure_ascii=False) + "\n"
    PipelineDefinition.model_validate(definition)
    assert set(definition) == {
        "name",
        "parameters",
        "settings",
        "steps",
        "uuid",
        "version",
        "services",
    }
    assert definition["name"] == "greet" and definition["version"] == "1.0.0"
    for key, step in definition["steps"].items():
        assert set(step) == STEP_KEYS, step
        assert step["uuid"] == key
        assert set(step["kernel"]) == {"name", "display_name"}
        assert set(step["meta_data"]) == {"hidden", "position"}
        assert all(isinstance(v, int) for v in step["meta_data"]["position"])


def test_build_a_pipeline_by_mouse_run_it_and_follow_the_disk(
    workdir: Path, tmp_path: Path
) -> None:
    stack = dashboard_stack(workdir)
    shots = screenshots_dir(tmp_path)
    page_errors: list[str] = []
    try:
        stack.up()
        with signed_in_page(stack.url, tmp_path / "profile") as page:
            page.on("pageerror", lambda error: page_errors.append(str(error)))
            try:
                seen = build_pipeline(page, shots)
            except BaseException:
                # Every failure, not only an ``expect``'s AssertionError:
                # ``pytest.fail`` (a BaseException) and Playwright's timeouts
                # too, so that the screenshot is of this failure, not of none.
                page.screenshot(path=str(shots / "editor-failure.png"))
                raise
            root = project_folder(stack, "editor-demo")
            pipeline_file = root / "greet.orchest"
            definition = on_disk(pipeline_file)
            steps = by_title(definition)

            # What Orchest writes: the files from the templates, the connections, the parameter.
            check_orchest_format(pipeline_file)
            assert {t: s["file_path"] for t, s in steps.items()} == {
                "load": "load.py",
                "transform": "transform.ipynb",
                "report": "report.sh",
            }
            assert all((root / s["file_path"]).is_file() for s in steps.values())
            assert steps["load"]["incoming_connections"] == []
            assert steps["transform"]["incoming_connections"] == [steps["load"]["uuid"]]
            assert steps["report"]["incoming_connections"] == [steps["transform"]["uuid"]]
            assert steps["load"]["parameters"] == {"greeting": GREETING}
            assert steps["transform"]["kernel"] == {"name": "python", "display_name": "Python 3"}
            assert "JSON" in seen["json_error"] or "Unexpected" in seen["json_error"]
            # Positions saved: transform moved down; load and report moved right together.
            pos = {t: s["meta_data"]["position"] for t, s in steps.items()}
            laid, moved = seen["laid_out"], seen["moved"]
            assert moved["transform"][1] - laid["transform"][1] > 60
            assert moved["load"][0] - laid["load"][0] > 40
            assert moved["report"][0] - laid["report"][0] > 40
            assert pos["transform"][1] > pos["load"][1] + 40, pos

            # It runs through orchest run; the first step reads its parameter with the SDK.
            (root / "load.py").write_text(LOAD_PY)
            ran = stack.orchest("run", "editor-demo/greet", "--logs", timeout=600)
            assert ran.returncode == 0, ran.stdout + ran.stderr
            assert f"greeting: {GREETING}" in ran.stdout, ran.stdout

            follow_the_disk(page, pipeline_file, shots)
            open_in_lab(page, stack)

            # An edit, then at once another view: written all the same.
            retitle_in_browser(page, "disk 1", "left at once")
            page.get_by_role("link", name="view runs").click()
            page.wait_for_selector("[data-testid=dag]")
            page.get_by_test_id("edit-pipeline").click()
            expect(node(page, "left at once")).to_be_visible()
            assert "left at once" in by_title(on_disk(pipeline_file))
        assert page_errors == []
    finally:
        stack.orchest("down")


def project_folder(stack: Stack, name: str) -> Path:
    with api(stack) as http:
        projects = http.get("/api/projects").json()["projects"]
    [project] = [p for p in projects if p["name"] == name]
    return Path(project["path"])


def write_titles(pipeline_file: Path, **titles: str) -> None:
    """Retitle steps in the file on disk (as another editor would)."""
    definition = on_disk(pipeline_file)
    for step in definition["steps"].values():
        step["title"] = titles.get(step["title"], step["title"])
    pipeline_file.write_text(json.dumps(definition, indent=4) + "\n")


def retitle_in_browser(page: Page, title: str, new: str) -> None:
    node(page, title).click()
    page.get_by_test_id("step-title").fill(new)


def follow_the_disk(page: Page, pipeline_file: Path, shots: Path) -> None:
    # A change on disk with nothing unsaved: the canvas follows, nothing is written back.
    saved(page)
    write_titles(pipeline_file, report="report (on disk)")
    expect(node(page, "report (on disk)")).to_be_visible()
    saved(page)
    assert by_title(on_disk(pipeline_file)).keys() == {"load", "transform", "report (on disk)"}

    # An unsaved edit, then the file changes on disk: the choice is offered; reload takes the disk's.
    retitle_in_browser(page, "transform", "mine 1")
    write_titles(pipeline_file, load="disk 1")
    dialog = page.get_by_test_id("conflict-dialog")
    expect(dialog).to_be_visible()
    page.screenshot(path=str(shots / "editor-conflict.png"))
    page.get_by_test_id("conflict-reload").click()
    expect(dialog).to_be_hidden()
    expect(node(page, "disk 1")).to_be_visible()
    expect(node(page, "transform")).to_be_visible()
    saved(page)
    assert by_title(on_disk(pipeline_file)).keys() == {"disk 1", "transform", "report (on disk)"}

    # Again; overwrite writes the edits over the disk's change.
    retitle_in_browser(page, "transform", "mine 2")
    write_titles(pipeline_file, **{"disk 1": "disk 2"})
    expect(dialog).to_be_visible()
    page.get_by_test_id("conflict-overwrite").click()
    expect(dialog).to_be_hidden()
    saved(page)
    expect(node(page, "mine 2")).to_be_visible()
    assert by_title(on_disk(pipeline_file)).keys() == {"disk 1", "mine 2", "report (on disk)"}
    check_orchest_format(pipeline_file)


def open_in_lab(page: Page, stack: Stack) -> None:
    """The session launched (through the API): the selected step's link is
    its file in the session's Lab, with the token, and Lab serves it."""
    match = re.search(r"/projects/([0-9a-f-]+)/pipelines/([0-9a-f-]+)/edit", page.url)
    assert match, page.url
    project_uuid, pipeline_uuid = match.groups()
    body = {"project_uuid": project_uuid, "pipeline_uuid": pipeline_uuid, "runtime": "process"}
    with api(stack) as http:
        launched = http.post("/api/sessions", json=body)
        assert launched.status_code == 201, launched.text
        node(page, "disk 1").click()  # load.py
        link = page.get_by_test_id("open-in-lab")
        expect(link).to_be_visible(timeout=300_000)  # the session's status, live
        session = http.get(f"/api/sessions/{project_uuid}/{pipeline_uuid}").json()
    href = link.get_attribute("href")
    token = session["jupyter_token"]
    assert href == f"{session['jupyter_url']}lab/tree/load.py?token={token}", href
    assert link.get_attribute("target") == "_blank"
    with httpx.Client(timeout=60.0) as lab:
        assert lab.get(href).status_code == 200
        contents = lab.get(f"{session['jupyter_url']}api/contents/load.py", params={"token": token})
        assert contents.status_code == 200 and "get_step_param" in contents.json()["content"]
