// The API reference (/api/docs) in Debian's chromium (playwright-core),
// against a gateway with API tokens (tests/integration/test_api_docs.py
// starts it and checks what this prints): the dashboard's header links to
// it; the page asks for the token, then
// shows every operation; "Try it out" on listRuns is answered 200 (the call
// carried the token). Every request that leaves the gateway's origin is
// refused and listed (the page must work offline). A screenshot goes to
// OUT_DIR. Prints one JSON object: what it saw.
//
//   node e2e/api_docs.mjs BASE_URL TOKEN OUT_DIR [CHROMIUM]
import { drive } from "./browser.mjs";

const [base, token, outDir, executable = "/usr/bin/chromium"] = process.argv.slice(2);
const origin = new URL(base).origin;

await drive(
  outDir,
  executable,
  async (page, result, shot, context) => {
    result.outside = [];
    await context.route("**/*", (route) => {
      const url = route.request().url();
      if (new URL(url).origin === origin) return route.continue();
      result.outside.push(url);
      return route.abort();
    });

    // The dashboard's header links to the reference.
    await page.goto(`${base}/`);
    const link = page.locator("header a.api-docs");
    await link.waitFor();
    result.dashboardLink = { text: (await link.textContent())?.trim(), href: await link.getAttribute("href") };
    await shot("dashboard-header");

    await page.goto(`${base}/api/docs`);
    // No token yet: the document is refused and the page asks for one.
    await page.locator("#token-form").waitFor({ state: "visible" });
    result.tokenPrompt = true;
    await page.fill("#token", token);
    await page.click("#token-form button");
    await page.locator(".opblock").first().waitFor();
    result.title = (await page.locator(".info .title").first().textContent())?.trim();
    result.tags = await page.locator(".opblock-tag").allTextContents();
    result.blocks = await page.locator(".opblock").count();
    await shot("api-docs");

    // Try it out: GET /api/runs, with the token the page keeps.
    const block = page.locator(".opblock-get", { has: page.locator('[data-path="/api/runs"]') }).first();
    await block.locator(".opblock-summary").click();
    await block.locator(".try-out__btn").click();
    await block.locator(".execute").click();
    const status = block.locator(".live-responses-table tbody .response-col_status").first();
    await status.waitFor();
    result.tryItStatus = (await status.textContent())?.trim();
    await shot("api-docs-try-it");

    // The request body's example, as the reference shows it.
    const create = page.locator(".opblock-post", { has: page.locator('[data-path="/api/runs"]') }).first();
    await create.locator(".opblock-summary").click();
    const example = create.locator(".opblock-section-request-body pre").first();
    await example.waitFor();
    result.requestExample = await example.textContent();
  },
  { width: 1440, height: 1000 },
);
