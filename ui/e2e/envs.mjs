// The environments views driven in Debian's chromium (playwright-core)
// against a running stack (tests/e2e/test_dashboard_envs.py starts it and
// makes the project PROJECT, then checks what this prints): from the
// project's page to its environments; a name the API refuses shown at its
// field; an environment created whose setup script prints (one line in
// colour) and pip-installs pyjokes, its build seen going to SUCCESS live with
// its log lines; its script edited to `exit 3` and saved, the new build seen
// FAILED with its log; a rebuild of a sleeping script cancelled; the list
// showing the latest state; the environment deleted; the environment "busy",
// which a draft job uses, not deleted (the 409 shown). Screenshots go to OUT_DIR.
//
//   node e2e/envs.mjs BASE_URL TOKEN OUT_DIR CHROMIUM PROJECT
import { drive, recordTransitions, signIn } from "./browser.mjs";

const [base, token, outDir, executable, project] = process.argv.slice(2);
const BUILD_TIMEOUT = 300_000; // a venv and a PyPI install on a shared machine

const SCRIPT = [
  "#!/bin/bash",
  "echo preparing the jokes environment",
  "printf '\\033[32mgreen means go\\033[0m\\n'",
  "pip install pyjokes",
  'python -c "import pyjokes; print(\'pyjokes installed:\', bool(pyjokes.get_joke()))"',
  "",
].join("\n");

await drive(outDir, executable, async (page, result, shot) => {
  // Every status each build row shows, in order, as the DOM changes (no reload).
  const transitions = await recordTransitions(page, "[data-testid=builds-table] tr[data-build][data-status]", "build");
  const text = (selector) => page.textContent(selector).then((t) => (t ?? "").trim());
  const newestBuild = () => page.getAttribute("[data-testid=builds-table] tbody tr:first-child", "data-build");
  const waitNewest = (status) =>
    page.waitForFunction(
      (s) => document.querySelector("[data-testid=builds-table] tbody tr:first-child")?.dataset.status === s,
      status,
      { timeout: BUILD_TIMEOUT },
    );
  const waitLogComplete = () =>
    page.waitForFunction(() => document.querySelector("[data-testid=build-log-state]")?.textContent?.includes("complete"));

  // 1. From the project's page to its environments (also in the nav there).
  await signIn(page, base, token);
  await page.goto(`${base}/projects/${project}`);
  result.navLink = await page.locator('nav a:text-is("Environments")').count();
  await page.click("[data-testid=project-environments]");
  await page.waitForURL(/\/environments$/);
  await page.waitForSelector("[data-testid=new-environment]");

  // 2. A name the API refuses: its problem at the field.
  await page.fill("[data-testid=env-name]", "n".repeat(300));
  await page.click("[data-testid=create-environment]");
  await page.waitForSelector("[data-testid=problems-name]");
  result.nameProblem = await text("[data-testid=problems-name]");

  // 3. Created: its first build goes to SUCCESS live, its log lines shown as they come.
  await page.fill("[data-testid=env-name]", "jokes");
  await page.fill("[data-testid=env-script]", SCRIPT);
  await page.click("button:text-is('+ variable')");
  await page.fill('[aria-label="variable 1 name"]', "JOKES_E2E");
  await page.fill('[aria-label="variable 1 value"]', "yes");
  await shot("environment-new", { fullPage: true });
  await page.click("[data-testid=create-environment]");
  await page.waitForURL(/\/environments\/[0-9a-f-]{36}(\?build=.*)?$/);
  result.envUrl = page.url().split("?")[0];
  await page.waitForSelector("[data-testid=builds-table] tbody tr");
  result.firstBuild = await newestBuild();
  await page.waitForFunction(() => document.querySelector("[data-testid=build-log]")?.textContent?.includes("preparing"), null, {
    timeout: BUILD_TIMEOUT,
  });
  result.firstLineWhileGoing = await page.getAttribute("[data-testid=builds-table] tbody tr:first-child", "data-status");
  await waitNewest("SUCCESS");
  await page.waitForFunction(() => document.querySelector("[data-testid=build-log]")?.textContent?.includes("installed"), null, {
    timeout: BUILD_TIMEOUT,
  });
  await waitLogComplete();
  result.successLog = await text("[data-testid=build-log]");
  result.greenSpans = await page.$$eval("[data-testid=build-log] span.ansi-2", (els) => els.map((e) => e.textContent));
  result.facts = await text("[data-testid=environment-facts]");
  await shot("environment", { fullPage: true });

  // 4. The script edited to fail: saved, a new build goes to FAILURE with its log.
  await page.fill("[data-testid=setup-script]", "#!/bin/bash\necho about to fail\nexit 3\n");
  await page.click("[data-testid=save-script]");
  await page.waitForFunction((first) => {
    const row = document.querySelector("[data-testid=builds-table] tbody tr:first-child");
    return row && row.dataset.build !== first;
  }, result.firstBuild);
  result.secondBuild = await newestBuild();
  await waitNewest("FAILURE");
  await page.waitForFunction(() => document.querySelector("[data-testid=build-log]")?.textContent?.includes("about to fail"));
  await waitLogComplete();
  result.failureLog = await text("[data-testid=build-log]");
  result.failureRow = await text("[data-testid=builds-table] tbody tr:first-child");
  result.headerStatus = await page.getAttribute("h1 [data-status]", "data-status");
  await shot("environment-failed", { fullPage: true });

  // 5. A long build cancelled from the page.
  await page.fill("[data-testid=setup-script]", "#!/bin/bash\necho sleeping\nsleep 120\n");
  await page.click("[data-testid=save-script]");
  await page.waitForFunction(() => document.querySelector("[data-testid=build-log]")?.textContent?.includes("sleeping"), null, {
    timeout: BUILD_TIMEOUT,
  });
  result.thirdBuild = await newestBuild();
  await page.click("[data-testid=cancel-build]");
  await waitNewest("ABORTED");
  result.transitions = await transitions();

  // 6. The list: the latest build's state; then the environment deleted.
  await page.click('nav a:text-is("Environments")');
  await page.waitForSelector("[data-testid=environments-table] tbody tr");
  const jokesRow = '[data-testid=environments-table] tbody tr:has(a:text-is("jokes"))';
  // The list may first show what was cached, then what it read again: wait
  // for the latest build's state (the test says what it saw if it never came).
  await page
    .waitForFunction(
      () =>
        [...document.querySelectorAll("[data-testid=environments-table] tbody tr")].some(
          (tr) => tr.querySelector("a")?.textContent === "jokes" && tr.getAttribute("data-status") === "ABORTED",
        ),
      null,
      { timeout: 15000 },
    )
    .catch(() => undefined);
  result.listRow = await text(jokesRow);
  result.listStatus = await page.getAttribute(jokesRow, "data-status");
  await shot("environments", { fullPage: true });
  await page.click('[data-testid=environments-table] a:text-is("jokes")');
  await page.click("[data-testid=delete-environment]");
  await page.click("[data-testid=delete-environment-confirm]");
  await page.waitForURL(/\/environments$/);
  await page.waitForFunction(() => {
    const names = [...document.querySelectorAll("[data-testid=environments-table] tbody td:first-child a")];
    return names.length > 0 && !names.some((a) => a.textContent === "jokes");
  });
  result.listedAfter = await page.$$eval("[data-testid=environments-table] tbody td:first-child a", (els) => els.map((e) => e.textContent));

  // 7. An environment a draft job uses: its delete refused, the refusal shown.
  await page.click('[data-testid=environments-table] a:text-is("busy")');
  await page.click("[data-testid=delete-environment]");
  await page.click("[data-testid=delete-environment-confirm]");
  await page.waitForSelector("[role=alert]:has-text('was not deleted')");
  result.refusal = await text("[role=alert]:has-text('was not deleted')");
  result.stayedAt = page.url();
  await shot("environment-in-use");
});
