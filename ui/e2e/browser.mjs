// What the dashboard's browser scripts share: Debian's chromium through
// playwright-core (headless, a fresh profile, nothing fetched in the
// background, a generous default timeout: the machine is shared), a result
// object printed as one JSON line at the end, screenshots into OUT_DIR, and
// the token prompt.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const TIMEOUT = 120_000;

/** Opens chromium; `close()` ends it and removes its profile. */
export async function openBrowser(executable, viewport = { width: 1440, height: 900 }) {
  const profile = mkdtempSync(join(tmpdir(), "orchest-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: executable,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport,
  });
  context.setDefaultTimeout(TIMEOUT);
  const close = async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, close };
}

/**
 * Opens chromium; `run(page, result, shot, context)` drives it, then `result`
 * is printed (with `ok`, and `failure` and a "failure" screenshot if it threw).
 */
export async function drive(outDir, executable, run, viewport = undefined) {
  const { context, close } = await openBrowser(executable, viewport);
  const result = { errors: [], screenshots: [] };
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (e) => result.errors.push(String(e)));
  const shot = async (name, options = {}) => {
    const path = join(outDir, `${name}.png`);
    await page.screenshot({ path, ...options });
    result.screenshots.push(path);
  };
  try {
    await run(page, result, shot, context);
    result.ok = true;
  } catch (error) {
    result.ok = false;
    result.failure = String(error);
    result.at = page.url();
    await shot("failure").catch(() => {});
  } finally {
    await close();
  }
  console.log(JSON.stringify(result));
}

/** Opens `base` and gets past the token prompt with `token`. */
export async function signIn(page, base, token) {
  await page.goto(base + "/");
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

/**
 * Records every status each row matching `row` shows, in order, as the DOM
 * changes (no reload): rows are told apart by their `data-KEY` attribute and
 * their status read from `data-status`. Call it before the first navigation;
 * the returned function reads `{ [key]: [status, ...] }` from the page.
 */
export async function recordTransitions(page, row, key) {
  await page.addInitScript(
    ([ROW, KEY]) => {
      window.__transitions = {};
      const record = (el) => {
        const seen = (window.__transitions[el.dataset[KEY]] ??= []);
        if (seen[seen.length - 1] !== el.dataset.status) seen.push(el.dataset.status);
      };
      new MutationObserver((mutations) => {
        for (const m of mutations) {
          if (m.type === "attributes" && m.target.matches?.(ROW)) record(m.target);
          for (const n of m.addedNodes ?? []) {
            if (n.matches?.(ROW)) record(n);
            if (n.querySelectorAll) n.querySelectorAll(ROW).forEach(record);
          }
        }
      }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-status"] });
    },
    [row, key],
  );
  return () => page.evaluate(() => window.__transitions);
}
