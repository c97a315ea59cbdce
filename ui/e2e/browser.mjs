// What the dashboard's browser scripts share: Debian's chromium (headless, a
// fresh profile), a result object printed as one JSON line at the end,
// screenshots into OUT_DIR, and the token prompt.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const TIMEOUT = 120_000; // generous: the machine is shared

/** Opens chromium; `run(page, result, shot)` drives it, then `result` is printed. */
export async function drive(outDir, executable, run) {
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
    viewport: { width: 1440, height: 900 },
  });
  context.setDefaultTimeout(TIMEOUT);
  const result = { errors: [], screenshots: [] };
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (e) => result.errors.push(String(e)));
  const shot = async (name, options = {}) => {
    const path = join(outDir, `${name}.png`);
    await page.screenshot({ path, ...options });
    result.screenshots.push(path);
  };
  try {
    await run(page, result, shot);
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

/** Opens `base` and gets past the token prompt with `token`. */
export async function signIn(page, base, token) {
  await page.goto(base + "/");
  await page.waitForSelector("[data-testid=token-input]");
  await page.fill("[data-testid=token-input]", token);
  await page.click("button[type=submit]");
}
