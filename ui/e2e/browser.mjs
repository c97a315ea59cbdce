// Debian's chromium through playwright-core, as the browser tests drive it:
// headless, a fresh profile, nothing fetched in the background, and a
// generous default timeout (the machine is shared). `close()` ends it and
// removes the profile.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const TIMEOUT = 120_000;

export async function openBrowser(executable, viewport) {
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
