// The step panel, the run timeline, sessions and the token prompt, driven in
// Debian's chromium against a running stack (tests/e2e/test_dashboard_steps.py
// starts it, makes the projects and checks what this prints):
//   1. the token prompt: a wrong token refused, the right one admits;
//   2. the quickstart's Report step run, its executed notebook rendered in
//      the step panel;
//   3. the "flaky" pipeline (its notebook step fails its first attempt, then
//      runs until this saw it growing, then succeeds): the run's timeline
//      with the two attempts, the running one growing, a bar's tip; the step
//      panel's attempts and the first attempt's notebook with its traceback;
//   4. a session launched from the Sessions page (the process runtime), its
//      JupyterLab reached in a new tab, then stopped;
//   5. a token the gateway refuses (a 401) returns to the prompt.
// Prints one JSON object: what it saw. Screenshots go to OUT_DIR.
//
//   node e2e/steps.mjs BASE_URL TOKEN OUT_DIR CHROMIUM RELEASE
// RELEASE: the file whose existence ends the flaky step's retried attempt
// (written once its bar was seen growing).
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { drive, nodeOf, signIn, TIMEOUT, waitForStates } from "./browser.mjs";

const [base, token, outDir, executable, release] = process.argv.slice(2);
const SESSION_TIMEOUT = 300_000; // a first launch starts EG and Jupyter on a loaded machine

const barsOf = (page, title) =>
  page.$$eval(
    `.timeline-row:has(.timeline-label[title="${title}"]) .timeline-bar`,
    (els) => els.map((e) => ({ attempt: Number(e.dataset.attempt), status: e.dataset.status, width: e.getBoundingClientRect().width })),
  );

const openPipeline = async (page, name, steps) => {
  await page.click('nav a:text-is("Home")');
  await page.click(`a:text-is("${name}")`);
  await page.waitForFunction((n) => document.querySelectorAll(".step-node").length === n, steps);
};

await drive(outDir, executable, async (page, result, shot) => {
  // 1. The token prompt: a wrong token is refused (the prompt again, saying so), the right one admits.
  await signIn(page, base, "not-the-token");
  await page.waitForSelector("[data-testid=token-refused]");
  result.wrongTokenRefused = await page.textContent("[data-testid=token-refused]");
  await shot("token-refused");
  await signIn(page, base, token);
  await page.waitForSelector('a:text-is("quickstart")');
  result.admitted = true;

  // 2. The quickstart's Report step: run it with its ancestors, its executed notebook rendered.
  await openPipeline(page, "quickstart", 6);
  await nodeOf(page, "Report").click();
  await page.waitForSelector("[data-testid=step-panel]");
  await page.click("button[data-run-type=selection_with_ancestors]");
  await page.waitForURL(/\?run=/);
  await waitForStates(page, { Report: "SUCCESS" });
  await page.waitForSelector("[data-testid=notebook] [data-testid=nb-outputs]");
  result.notebook = {
    headings: await page.$$eval("[data-testid=notebook] .nb-markdown h3", (els) => els.map((e) => e.textContent)),
    outputs: await page.$$eval("[data-testid=notebook] .nb-output", (els) => els.map((e) => e.textContent)),
    download: await page.getAttribute("[data-testid=notebook-download]", "download"),
    attempts: await page.$$eval("[data-testid=step-attempts] tbody tr", (rows) => rows.map((r) => r.dataset.attempt)),
  };
  const downloaded = page.waitForEvent("download");
  await page.click("[data-testid=notebook-download]");
  result.notebook.downloadedName = (await downloaded).suggestedFilename();
  await page.locator(".step-notebook").evaluate((e) => e.scrollIntoView({ block: "start" }));
  await shot("step-notebook");

  // 3. The flaky pipeline: attempt 1 fails, attempt 2 runs until released, then succeeds.
  await openPipeline(page, "flaky", 1);
  await nodeOf(page, "Flaky").click();
  await page.click("button[data-run-type=full]");
  await page.waitForURL(/\?run=/);
  const run = new URL(page.url()).searchParams.get("run");
  result.flakyRun = run;
  // The step panel lists both attempts live: the first failed, the second running.
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll("[data-testid=step-attempts] tbody tr")];
    return rows.length === 2 && rows[1].querySelector("[data-status=STARTED]");
  });
  // The timeline while the retry runs: two bars, the running one growing.
  await page.goto(`${base}/runs/${run}`);
  await page.waitForFunction(() => document.querySelectorAll(".timeline-bar").length === 2);
  const growing = await barsOf(page, "Flaky");
  result.timelineWhileRunning = growing.map(({ attempt, status }) => ({ attempt, status }));
  if (growing[1]?.status === "STARTED") {
    const before = growing[1].width;
    await page.waitForFunction(
      (w) => {
        const bars = document.querySelectorAll(".timeline-bar");
        return bars[1] && (bars[1].getBoundingClientRect().width > w + 1 || bars[1].dataset.status !== "STARTED");
      },
      before,
    );
    result.runningBarGrew = (await barsOf(page, "Flaky"))[1].width > before + 1;
  }
  await writeFile(release, "");
  await page.waitForSelector('h1 [data-status="SUCCESS"]');
  result.timeline = await barsOf(page, "Flaky");
  await page.hover(".timeline-bar[data-attempt='1']");
  await page.waitForSelector(".timeline-bar[data-attempt='1'] .timeline-tip", { state: "visible" });
  result.tip = await page.textContent(".timeline-bar[data-attempt='1'] .timeline-tip");
  await shot("run-timeline");

  // The step panel after the run: both attempts, and the first one's notebook with its traceback.
  await page.click("a:text-is('open in the pipeline')");
  await nodeOf(page, "Flaky").click();
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=step-attempts] tbody tr").length === 2);
  result.attempts = await page.$$eval("[data-testid=step-attempts] tbody tr", (rows) =>
    rows.map((r) => ({ attempt: Number(r.dataset.attempt), status: r.querySelector("[data-status]").dataset.status, exit: r.children[2].textContent })),
  );
  await page.click("[data-testid=step-attempts] tbody tr[data-attempt='1'] button:text-is('Notebook')");
  await page.waitForSelector("[data-testid=notebook] .nb-error");
  result.traceback = {
    text: await page.textContent("[data-testid=notebook] .nb-error"),
    coloured: await page.$$eval("[data-testid=notebook] .nb-error span[class*=ansi-]", (els) => els.length),
  };
  await page.locator("[data-testid=step-attempts]").evaluate((e) => e.scrollIntoView({ block: "start" }));
  await shot("step-attempts");
  await page.locator("[data-testid=notebook] .nb-error").evaluate((e) => e.scrollIntoView({ block: "center" }));
  await shot("step-traceback");

  // 4. A session launched from the Sessions page, JupyterLab reached in a new tab, then stopped.
  await page.click('nav a:text-is("Sessions")');
  const row = page.locator("[data-testid=session-row]", { has: page.locator('a:text-is("quickstart")') });
  await row.locator("select").selectOption("process");
  await row.locator("[data-testid=launch-session]").click();
  await row.locator('[data-status="RUNNING"]').waitFor({ timeout: SESSION_TIMEOUT });
  await row.locator("[data-testid=open-jupyterlab]").waitFor();
  result.sessionRuntime = await row.locator("td:nth-child(3)").textContent();
  await shot("sessions-live");
  const [lab] = await Promise.all([page.context().waitForEvent("page"), row.locator("[data-testid=open-jupyterlab]").click()]);
  lab.setDefaultTimeout(TIMEOUT);
  await lab.waitForURL(/\/lab/);
  await lab.waitForSelector(".jp-LabShell");
  await lab.waitForSelector(".jp-DirListing-content");
  result.lab = { url: lab.url().replace(/token=[^&]+/, "token=…"), files: await lab.$$eval(".jp-DirListing-itemText", (els) => els.map((e) => e.textContent.trim())) };
  const labShot = join(outDir, "session-lab.png");
  await lab.screenshot({ path: labShot });
  result.screenshots.push(labShot);
  await lab.close();
  await row.locator("button:has-text('Stop')").click();
  await row.locator('[data-status="STOPPED"]').waitFor();
  result.sessionStopped = true;

  // 5. A 401 returns to the prompt: the tab's token no longer admitted.
  await page.evaluate(() => window.sessionStorage.setItem("orchest.apiToken", "revoked"));
  await page.click('nav a:text-is("Runs")');
  await page.waitForSelector("[data-testid=token-input]");
  result.backToPrompt = true;
});
