// The dashboard's speed in Debian's chromium (playwright-core), for the
// benchmark (bench/dashboard.py starts the stack, makes the pipeline, sends
// the events and turns what this prints into figures):
//
// 1. first load: the home page in a fresh profile (nothing cached): first
//    contentful paint, DOMContentLoaded and load, from the navigation's start;
// 2. the pipeline page of a large pipeline: when every step node is in the
//    page and painted (two animation frames later), from the navigation's start;
// 3. panning it: a scripted drag across the DAG (at the fitted zoom, then
//    zoomed in), every animation frame's time recorded meanwhile;
// 4. then it prints {"ready": ...} and records, for every change of a step
//    node's attempt on the page (a MutationObserver), the step, the attempt
//    and the time (epoch ms); once a line "done N" comes on stdin, it waits
//    until N changes were seen (or 60 s passed) and prints {"seen": ...},
//    with the page's own stamps of where each event's time went (below);
//    screenshots of the page after the events, fitted and zoomed in.
//
//   node e2e/speed.mjs BASE_URL PIPELINE_PATH STEPS OUT_DIR [CHROMIUM]
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { openBrowser } from "./browser.mjs";

const TRACE_CATEGORIES = [
  "devtools.timeline",
  "disabled-by-default-devtools.timeline",
  "disabled-by-default-devtools.timeline.frame",
  "blink.user_timing",
  "v8.execute",
].join(",");

const [base, pipelinePath, stepsArg, outDir, executable = "/usr/bin/chromium"] = process.argv.slice(2);
const steps = Number(stepsArg);
const { context, close } = await openBrowser(executable);
const errors = [];
const page = context.pages()[0] ?? (await context.newPage());
page.on("pageerror", (e) => errors.push(String(e)));
// Where an event's time goes, stamped in the page (epoch ms, the clock of
// the DOM's stamps): each step event's arrival (its `message` dispatched by
// the EventSource, before the app's handler), the start of each animation
// frame's callbacks, and each React commit (React calls a devtools hook's
// onCommitFiberRoot at the end of every commit, production builds too).
await page.addInitScript(() => {
  const now = () => performance.timeOrigin + performance.now();
  window.__received = [];
  window.__frameStarts = [];
  window.__commits = [];
  const Native = window.EventSource;
  window.EventSource = class extends Native {
    addEventListener(type, listener, options) {
      if (type !== "step_status_changed" || typeof listener !== "function") return super.addEventListener(type, listener, options);
      return super.addEventListener(
        type,
        (message) => {
          const attempt = /"attempt":(\d+)/.exec(message.data);
          if (attempt) window.__received.push([Number(attempt[1]), now()]);
          listener.call(this, message);
        },
        options,
      );
    }
  };
  const raf = window.requestAnimationFrame.bind(window);
  let stamped = -1;
  window.requestAnimationFrame = (callback) =>
    raf((t) => {
      if (t !== stamped) window.__frameStarts.push(now());
      stamped = t;
      callback(t);
    });
  window.__REACT_DEVTOOLS_GLOBAL_HOOK__ = {
    supportsFiber: true,
    renderers: new Map(),
    inject: () => 1,
    checkDCE: () => {},
    onScheduleFiberRoot: () => {},
    onCommitFiberRoot: () => window.__commits.push(now()),
    onCommitFiberUnmount: () => {},
    onPostCommitFiberRoot: () => {},
  };
});
const print = (object) => process.stdout.write(JSON.stringify(object) + "\n");

try {
  // 1. First load, nothing cached.
  await page.goto(`${base}/`, { waitUntil: "load" });
  await page.waitForSelector("main");
  const firstLoad = await page.evaluate(() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const fcp = performance.getEntriesByName("first-contentful-paint")[0];
    const transferred = performance
      .getEntriesByType("resource")
      .reduce((sum, r) => sum + (r.transferSize || 0), nav.transferSize || 0);
    return {
      fcp: fcp ? fcp.startTime : null,
      domContentLoaded: nav.domContentLoadedEventEnd,
      load: nav.loadEventEnd,
      transferred,
    };
  });

  // 2. The large pipeline: every node in the page and painted.
  await page.goto(`${base}${pipelinePath}`, { waitUntil: "commit" });
  const render = await page.evaluate(
    (count) =>
      new Promise((resolve) => {
        const check = () => {
          if (document.querySelectorAll(".step-node").length >= count) {
            const inPage = performance.now();
            window.__firstNode ??= inPage;
            // Painted: the frame after the one that drew them.
            requestAnimationFrame(() =>
              requestAnimationFrame(() => {
                const reads = performance.getEntriesByType("resource").filter((r) => r.name.includes("/api/") && !r.name.includes("/api/events"));
                const script = performance.getEntriesByType("resource").find((r) => r.name.endsWith(".js"));
                resolve({
                  script: script ? script.responseEnd : null,
                  reads: reads.length ? Math.max(...reads.map((r) => r.responseEnd)) : null,
                  first: window.__firstNode,
                  inPage,
                  painted: performance.now(),
                });
              }),
            );
          } else {
            if (document.querySelector(".step-node")) window.__firstNode ??= performance.now();
            setTimeout(check, 5);
          }
        };
        check();
      }),
    steps,
  );
  await page.screenshot({ path: join(outDir, "speed-pipeline.png") });

  // 3. Panning: frame times during a drag across the pane.
  const pane = await page.locator(".react-flow__pane").boundingBox();
  const pan = async () => {
    await page.evaluate(() => {
      window.__frames = [];
      window.__framing = true;
      const tick = (t) => {
        window.__frames.push(t);
        if (window.__framing) requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });
    const x = pane.x + pane.width / 2;
    const y = pane.y + pane.height / 2;
    await page.mouse.move(x, y);
    await page.mouse.down();
    for (let i = 1; i <= 60; i++) await page.mouse.move(x - i * 8, y - i * 3);
    for (let i = 59; i >= 0; i--) await page.mouse.move(x - i * 8, y - i * 3);
    await page.mouse.up();
    return page.evaluate(() => {
      window.__framing = false;
      const f = window.__frames;
      return f.slice(1).map((t, i) => t - f[i]);
    });
  };
  const panFitted = await pan();
  // Zoomed in on the first steps: panning now brings nodes in and out of view.
  for (let i = 0; i < 8; i++) await page.mouse.wheel(0, -400);
  await page.mouse.move(pane.x + 50, pane.y + pane.height / 2);
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  const panZoomed = await pan();
  const zoomedNodes = await page.locator(".step-node").count();
  // Back to the whole pipeline (React Flow's "fit view" control): every node shown.
  await page.locator(".react-flow__controls-fitview").click();
  await page.waitForFunction((count) => document.querySelectorAll(".step-node").length >= count, steps);

  // 4. Events: every change of a node's attempt, as the page shows it.
  await page.evaluate(() => {
    window.__seen = [];
    const last = new Map();
    const record = (element) => {
      const node = element.closest?.(".step-node");
      if (!node) return;
      const attempt = node.querySelector(".step-attempt")?.textContent;
      if (!attempt || last.get(node.dataset.step) === attempt) return;
      last.set(node.dataset.step, attempt);
      window.__seen.push([node.dataset.step, Number(attempt.replace(/\D/g, "")), performance.timeOrigin + performance.now()]);
    };
    new MutationObserver((mutations) => {
      for (const m of mutations) record(m.target.nodeType === 1 ? m.target : m.target.parentElement);
    }).observe(document.querySelector(".react-flow") ?? document.body, {
      subtree: true,
      childList: true,
      characterData: true,
      attributes: true,
      attributeFilter: ["data-status"],
    });
  });
  // ORCHEST_SPEED_PROFILE=FILE: a CPU profile of the page while the events come.
  const profilePath = process.env.ORCHEST_SPEED_PROFILE;
  const cdp = profilePath ? await context.newCDPSession(page) : null;
  if (cdp) {
    await cdp.send("Profiler.enable");
    await cdp.send("Profiler.start");
  }
  // ORCHEST_SPEED_TRACE=FILE: a Chrome trace (chrome://tracing, Perfetto) of the same.
  const tracePath = process.env.ORCHEST_SPEED_TRACE;
  const tracer = tracePath ? await context.newCDPSession(page) : null;
  const traced = [];
  if (tracer) {
    tracer.on("Tracing.dataCollected", ({ value }) => traced.push(...value));
    await tracer.send("Tracing.start", {
      categories: TRACE_CATEGORIES,
      transferMode: "ReportEvents",
    });
  }
  await page.evaluate(() => {
    window.__received.length = 0;
    window.__frameStarts.length = 0;
    window.__commits.length = 0;
  });
  print({ ready: true, firstLoad, render, panFitted, panZoomed, zoomedNodes, errors });

  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    const [word, count] = line.trim().split(" ");
    if (word !== "done") continue;
    await page
      .waitForFunction((n) => window.__seen.length >= n, Number(count), { timeout: 60_000, polling: 100 })
      .catch(() => undefined); // what was seen is printed: the bench counts the missing
    break;
  }
  if (cdp) {
    const { profile: cpu } = await cdp.send("Profiler.stop");
    writeFileSync(profilePath, JSON.stringify(cpu));
  }
  if (tracer) {
    const ended = new Promise((resolve) => tracer.once("Tracing.tracingComplete", resolve));
    await tracer.send("Tracing.end");
    await ended;
    writeFileSync(tracePath, JSON.stringify({ traceEvents: traced }));
  }
  await page.screenshot({ path: join(outDir, "speed-events.png") });
  // And zoomed in on the first steps: their colours and attempts readable.
  await page.mouse.move(pane.x + 50, pane.y + pane.height / 2);
  for (let i = 0; i < 5; i++) await page.mouse.wheel(0, -400);
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  await page.screenshot({ path: join(outDir, "speed-events-zoomed.png") });
  const stamps = await page.evaluate(() => ({
    seen: window.__seen,
    received: window.__received,
    frames: window.__frameStarts,
    commits: window.__commits,
  }));
  print({ ...stamps, errors });
} finally {
  await close();
}
