// The dashboard tests' browser: Debian's chromium driven by playwright-core
// (no browser downloaded), a fresh profile each time, and what a script saw
// collected in one object printed as JSON at the end (the Python test reads
// the last line). Shared by dashboard.mjs and steps.mjs.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const TIMEOUT = 120_000; // generous: the machine is shared
export const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Runs `body({ context, page, result, shot })` in a fresh browser; prints
 * `result` (with `ok`, and `failure`/`at` and a `failure.png` when it threw). */
export async function withBrowser(executable, outDir, body) {
  const profile = mkdtempSync(join(tmpdir(), "orchest-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: executable,
    headless: true,
    args: ARGS,
    viewport: { width: 1440, height: 900 },
  });
  context.setDefaultTimeout(TIMEOUT);
  const result = { errors: [], screenshots: [] };
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (e) => result.errors.push(String(e)));
  const shot = async (name, target = page) => {
    const path = join(outDir, `${name}.png`);
    await target.screenshot({ path });
    result.screenshots.push(path);
  };
  try {
    await body({ context, page, result, shot });
    result.ok = true;
  } catch (error) {
    result.ok = false;
    result.failure = String(error);
    result.at = page.url();
    await shot("failure").catch(() => {});
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
  console.log(JSON.stringify(result));
}

/** Through the token prompt with `token`. */
export async function signIn(page, token) {
  await page.waitForSelector("[data-testid=token-input]");
  await page.fill("[data-testid=token-input]", token);
  await page.click("button[type=submit]");
}

/** The DAG node of the step titled `title`. */
export const nodeOf = (page, title) =>
  page.locator(".react-flow__node", { has: page.locator(`.step-title:text-is("${title}")`) });

/** Waits until every step named in `want` (title -> status) shows that status on the DAG. */
export const waitForStates = (page, want) =>
  page.waitForFunction(
    (w) => {
      const nodes = [...document.querySelectorAll(".step-node")];
      const now = Object.fromEntries(nodes.map((e) => [e.querySelector(".step-title").textContent, e.dataset.status]));
      return Object.entries(w).every(([title, status]) => now[title] === status);
    },
    want,
    { timeout: TIMEOUT },
  );
