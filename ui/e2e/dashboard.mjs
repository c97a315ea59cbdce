// The dashboard driven in Debian's chromium (playwright-core) against a
// running stack (tests/e2e/test_dashboard.py starts it and checks what this
// prints): the token prompt, Home, the quickstart pipeline, a "selection
// with ancestors" run and a full run watched live on the DAG, a step's log,
// a long step aborted, the runs, run, jobs and sessions views; no step
// hidden again once shown through the pipeline's runs. Screenshots of each view go to
// OUT_DIR. Prints one JSON object: what it saw.
//
//   node e2e/dashboard.mjs BASE_URL TOKEN OUT_DIR [CHROMIUM]
import { drive, nodeOf, waitForStates as waitFor } from "./browser.mjs";

const [base, token, outDir, executable = "/usr/bin/chromium"] = process.argv.slice(2);

await drive(outDir, executable, async (page, result, shot) => {
  // Every change of a step's state on the DAG, as the DOM shows it, in order.
  await page.addInitScript(() => {
    window.__transitions = {};
    window.__logStates = [];
    const record = (el) => {
      const title = el.querySelector(".step-title")?.textContent ?? el.dataset.step;
      const seen = (window.__transitions[title] ??= []);
      if (seen[seen.length - 1] !== el.dataset.status) seen.push(el.dataset.status);
    };
    new MutationObserver((mutations) => {
      const log = document.querySelector("[data-testid=log-state]")?.textContent;
      if (log && window.__logStates[window.__logStates.length - 1] !== log) window.__logStates.push(log);
      for (const m of mutations) {
        if (m.type === "attributes" && m.target.dataset?.step) record(m.target);
        for (const n of m.addedNodes ?? []) {
          if (n.querySelectorAll) n.querySelectorAll("[data-step]").forEach(record);
        }
      }
    }).observe(document, { subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ["data-status"] });
    // A step hidden again once shown: React Flow hides a node it must measure
    // again (a node object given without its size), and a click then misses.
    window.__blinks = [];
    const shown = new WeakSet();
    new MutationObserver((mutations) => {
      for (const { target } of mutations) {
        if (!target.classList?.contains("react-flow__node")) continue;
        if (target.style.visibility === "visible") shown.add(target);
        else if (target.style.visibility === "hidden" && shown.has(target)) {
          window.__blinks.push(target.querySelector(".step-title")?.textContent ?? "?");
        }
      }
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ["style"] });
  });

  const statuses = () =>
    page.$$eval(".step-node", (els) =>
      Object.fromEntries(els.map((e) => [e.querySelector(".step-title").textContent, e.dataset.status])),
    );
  const node = (title) => nodeOf(page, title);
  const takeTransitions = () =>
    page.evaluate(() => {
      const t = window.__transitions;
      window.__transitions = {};
      return t;
    });
  const waitForStates = (want) => waitFor(page, want);

  // 1. The token prompt: the gateway has tokens, the app has none yet.
  await page.goto(base + "/");
  await page.waitForSelector("[data-testid=token-input]");
  result.tokenPrompt = true;
  await shot("token-prompt");
  await page.fill("[data-testid=token-input]", token);
  await page.click("button[type=submit]");

  // 2. Home: the project's pipeline, the stack's health.
  await page.waitForSelector('a:text-is("quickstart")');
  await page.waitForSelector("[data-testid=health] li.up");
  result.health = await page.$$eval("[data-testid=health] li", (els) => els.map((e) => e.textContent));
  await shot("home");

  // 3. The pipeline: six steps on the DAG.
  await page.click('a:text-is("quickstart")');
  await page.waitForFunction(() => document.querySelectorAll(".step-node").length === 6);
  result.steps = Object.keys(await statuses());

  // 4. Select Clean and Stats; "selection with ancestors" highlights what it will run, then runs it.
  await node("Clean").click();
  await node("Stats").click({ modifiers: ["Shift"] });
  await page.hover("button[data-run-type=selection_with_ancestors]");
  result.highlighted = await page.$$eval(".step-node.highlighted .step-title", (els) => els.map((e) => e.textContent));
  await shot("pipeline-preview");
  await takeTransitions();
  await page.click("button[data-run-type=selection_with_ancestors]");
  await page.waitForURL(/\?run=/);
  await waitForStates({ "Get data": "SUCCESS", Clean: "SUCCESS", Stats: "SUCCESS" });
  result.partial = { url: page.url(), statuses: await statuses(), transitions: await takeTransitions() };
  await shot("pipeline-partial");

  // 5. A full run, watched live, Stats' log open beside the DAG (followed while it runs).
  await node("Stats").click();
  await page.waitForSelector("[data-testid=step-panel]");
  await page.evaluate(() => (window.__logStates = []));
  const before = page.url();
  await page.click("button[data-run-type=full]");
  await page.waitForURL((url) => url.href !== before && url.search.includes("run="));
  const all = Object.fromEntries(result.steps.map((t) => [t, "SUCCESS"]));
  await waitForStates(all);
  result.full = { url: page.url(), statuses: await statuses(), transitions: await takeTransitions() };

  // 6. Stats' log, streamed while it ran.
  await page.waitForFunction(() => (document.querySelector("[data-testid=step-log]")?.textContent ?? "").trim().length > 0);
  await page.waitForFunction(() => document.querySelector("[data-testid=log-state]")?.textContent === "complete");
  result.log = await page.textContent("[data-testid=step-log]");
  result.logStates = await page.evaluate(() => window.__logStates);
  result.blinks = await page.evaluate(() => window.__blinks);
  await shot("pipeline");

  // 7. A long step (the "long" pipeline: one step sleeping) aborted from
  // the pipeline view; its log is seen while it runs.
  await page.click('nav a:text-is("Home")');
  await page.click('a:text-is("long")');
  await page.waitForFunction(() => document.querySelectorAll(".step-node").length === 1);
  await node("Sleep").click();
  await page.click("button[data-run-type=full]");
  await waitForStates({ Sleep: "STARTED" });
  await page.waitForFunction(() => (document.querySelector("[data-testid=step-log]")?.textContent ?? "").includes("sleeping"));
  result.longLog = { text: await page.textContent("[data-testid=step-log]"), state: await page.textContent("[data-testid=log-state]") };
  await page.click("button:has-text('Abort')");
  await waitForStates({ Sleep: "ABORTED" });
  result.aborted = await statuses();
  await shot("pipeline-aborted");

  // 8. The runs, a run's timeline, jobs, sessions.
  await page.click('nav a:text-is("Runs")');
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=run-table] tbody tr").length >= 3);
  result.runRows = await page.$$eval("[data-testid=run-table] tbody tr", (rows) => rows.length);
  await shot("runs");
  await page.click("[data-testid=run-table] tbody tr:nth-child(2) td:first-child a");
  await page.waitForSelector(".timeline-bar");
  result.timelineBars = await page.$$eval(".timeline-bar", (els) => els.length);
  await shot("run");
  await page.click('nav a:text-is("Jobs")');
  await page.waitForSelector("h1:text-is('Jobs')");
  await shot("jobs");
  await page.click('nav a:text-is("Sessions")');
  await page.waitForSelector("h1:text-is('Sessions')");
  await shot("sessions");
});
