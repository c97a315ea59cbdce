// The jobs views driven in Debian's chromium (playwright-core) against a
// running stack (tests/e2e/test_dashboard_jobs.py starts it, makes the
// quickstart project and a draft job "long-job" whose one step sleeps, and
// checks what this prints): a cron job with a 2x2 grid created from the
// quickstart's pipeline page (a bad value and a bad cron expression seen
// refused inline, the next firing times seen before saving, two of six rows
// deselected, a name the API refuses shown at its field), triggered, its 4
// runs seen appearing and succeeding live; pause and resume; the runs list
// filtered by the job; the long job started and one run aborted from its
// page. Screenshots go to OUT_DIR.
//
//   node e2e/jobs.mjs BASE_URL TOKEN OUT_DIR [CHROMIUM]
import { drive, recordTransitions, signIn } from "./browser.mjs";

const [base, token, outDir, executable = "/usr/bin/chromium"] = process.argv.slice(2);
const RUNS_TIMEOUT = 480_000; // four quickstart runs on a shared machine

await drive(outDir, executable, async (page, result, shot) => {
  // Every status a job's run row shows, in order, as the DOM changes (no reload).
  const transitions = await recordTransitions(page, "[data-testid=job-runs] tr[data-run][data-status]", "run");
  const text = (selector) => page.textContent(selector).then((t) => (t ?? "").trim());
  const values = (param) => page.locator(`[data-param="${param}"] .grid-value input`);
  const addValue = async (param, value) => {
    const before = await values(param).count();
    await page.click(`[data-param="${param}"] [data-testid=add-value]`);
    await values(param).nth(before).fill(value);
  };

  // 1. From the quickstart's pipeline page to a new job, the pipeline preselected.
  await signIn(page, base, token);
  await page.click('a:text-is("quickstart")');
  await page.click("[data-testid=new-job-here]");
  await page.waitForURL(/\/jobs\/new\?/);
  await page.waitForSelector('[data-param="Pipeline.seed"]');
  result.preselected = await page.$eval("[data-testid=pipeline-select]", (e) => e.selectedOptions[0]?.textContent);
  result.params = await page.$$eval("[data-param]", (els) => els.map((e) => e.dataset.param));
  await page.fill("[data-testid=job-name]", "grid-e2e");

  // 2. The grid: seed 7, 8, 9 x test_fraction 0.2, 0.3; a bad value refused as typed.
  await addValue("Pipeline.seed", "oops");
  result.valueProblem = await text('[data-param="Pipeline.seed"] .field-problem');
  await values("Pipeline.seed").nth(1).fill("8");
  await addValue("Pipeline.seed", "9");
  await addValue("Train.test_fraction", "0.3");
  await page.waitForSelector("[data-testid=grid-rows] tbody tr:nth-child(6)");
  result.countBefore = await text("[data-testid=run-count]");
  // The rows of seed 9 (5 and 6, the last parameter varying fastest) deselected.
  result.deselectedRows = [];
  for (const row of [5, 6]) {
    result.deselectedRows.push(await text(`[data-testid=grid-rows] tr[data-row="${row}"] td:nth-child(4)`)); // the seed
    await page.click(`[data-testid=grid-rows] tr[data-row="${row}"] input[type=checkbox]`);
  }
  result.runCount = await text("[data-testid=run-count]");

  // 3. A cron schedule: a bad expression refused by the server, then the next firing times.
  await page.check("input[name=schedule-kind][value=cron]");
  await page.fill("[data-testid=cron-input]", "61 * * * *");
  await page.waitForSelector("[data-testid=cron-problems]");
  result.cronProblems = await text("[data-testid=cron-problems]");
  await page.fill("[data-testid=cron-input]", "0 3 * * *");
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=next-firings] li").length === 5);
  result.nextFirings = await page.$$eval("[data-testid=next-firings] time", (els) => els.map((e) => e.getAttribute("datetime")));
  result.firstFiringShown = await text("[data-testid=next-firings] li:first-child time");

  // 4. An env variable; a name the API refuses (too long), its problem shown at the field.
  await page.click("button:text-is('+ variable')");
  await page.fill('[aria-label="variable 1 name"]', "GRID_E2E");
  await page.fill('[aria-label="variable 1 value"]', "yes");
  await shot("job-new", { fullPage: true });
  await page.fill("[data-testid=job-name]", "n".repeat(300));
  await page.click("[data-testid=start-job]");
  await page.waitForSelector("[data-testid=problems-pipeline]");
  result.nameProblem = await text("[data-testid=problems-pipeline]");
  result.refusal = await text("[role=alert].banner-error");
  await shot("job-new-refused");
  await page.fill("[data-testid=job-name]", "grid-e2e");
  await page.click("[data-testid=start-job]");
  await page.waitForURL(/\/jobs\/[0-9a-f-]{36}$/);
  result.jobUrl = page.url();
  await page.waitForSelector("[data-testid=job-facts]");
  result.schedule = await text("[data-testid=job-schedule]");
  result.nextShown = await text("[data-testid=job-next]");

  // 5. Trigger now: the 4 runs appear and succeed, live.
  await page.click("[data-testid=trigger-job]");
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=job-runs] tr[data-run]").length === 4);
  await page.waitForFunction(
    () => [...document.querySelectorAll("[data-testid=job-runs] tr[data-run]")].every((r) => r.dataset.status === "SUCCESS"),
    null,
    { timeout: RUNS_TIMEOUT },
  );
  result.runParams = await page.$$eval("[data-testid=run-params]", (els) => els.map((e) => e.textContent));
  result.runTransitions = await transitions();
  result.counts = await text("[data-testid=job-counts]");
  await shot("job");

  // 6. Pause, then resume.
  await page.click("[data-testid=pause-job]");
  await page.waitForSelector('h1 [data-status="PAUSED"]');
  result.paused = true;
  await page.click("[data-testid=resume-job]");
  await page.waitForSelector('h1 [data-status="STARTED"]');
  result.resumed = true;

  // 7. The runs list filtered by this job (the filter in the URL).
  await page.click('a:text-is("in the runs list")');
  await page.waitForURL(/\/runs\?job_uuid=/);
  await page.waitForFunction(() => document.querySelector("[data-testid=run-total]")?.textContent?.includes("4 run"));
  result.filteredUrl = page.url();
  result.filteredRows = await page.$$eval("[data-testid=run-table] tbody tr", (rows) => rows.length);
  result.filterJob = await page.$eval("[data-testid=filter-job]", (e) => e.selectedOptions[0]?.textContent);
  await shot("runs-by-job");

  // 8. The jobs list; the long job's draft started, its run (a long step) aborted.
  await page.click('nav a:text-is("Jobs")');
  await page.waitForSelector("[data-testid=jobs-table] tbody tr:nth-child(2)");
  result.jobsListed = await page.$$eval("[data-testid=jobs-table] tbody tr td:first-child", (els) => els.map((e) => e.textContent));
  await shot("jobs-list");
  await page.click('a:text-is("long-job")');
  await page.click("button:has-text('Start (confirm the draft)')");
  await page.waitForSelector('[data-testid=job-runs] tr[data-status="STARTED"]');
  await page.click("[data-testid=abort-run]");
  await page.click("[data-testid=abort-run-confirm]");
  await page.waitForSelector('[data-testid=job-runs] tr[data-status="ABORTED"]');
  result.abortTransitions = await transitions();
  await shot("job-aborted");
});
