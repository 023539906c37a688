// The example pages in a real browser: Debian's Chromium, headless, driven
// by playwright-core. Each test starts `valk serve` on a free port.
//
//   VALK=build/valk node --test tests/browser/examples.test.mjs
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = fileURLToPath(new URL("../..", import.meta.url));
const valk = process.env.VALK ?? `${root}/build/valk`;
const browserPath = process.env.CHROMIUM ?? "/usr/bin/chromium";

// Starts `valk serve --port 0 APP` and resolves with {url, stop} once it
// reports its port.
function serve(app) {
  return new Promise((resolve, reject) => {
    const child = spawn(valk, ["serve", "--port", "0", `${root}/examples/${app}`]);
    let output = "";
    const timer = setTimeout(() => reject(new Error(`no port from valk serve:\n${output}`)), 20000);
    child.stderr.on("data", (chunk) => {
      output += chunk;
      const m = output.match(/serving .* on (http:\/\/[^ ]+:\d+) /);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], stop: () => child.kill("SIGTERM") });
      }
    });
    child.on("exit", (code) => reject(new Error(`valk serve exited ${code}:\n${output}`)));
  });
}

let browser;
before(async () => {
  browser = await chromium.launch({ executablePath: browserPath, args: ["--no-sandbox"] });
});
after(async () => {
  await browser?.close();
});

test("page.lisp renders escaped text as text, sent gzipped", async () => {
  const server = await serve("page.lisp");
  try {
    const page = await browser.newPage();
    const response = await page.goto(`${server.url}/?name=${encodeURIComponent("<b>Ada</b>")}`);
    assert.equal(await page.textContent("h1.greeting"), "Hello, <b>Ada</b>!");
    assert.equal(await page.locator("h1 b").count(), 0, "the name must not become markup");
    assert.equal(response.headers()["content-encoding"], "gzip");
    assert.equal(await page.textContent("#squares tr:last-child td:last-child"), "10000");
  } finally {
    server.stop();
  }
});

test("stream.lisp: an EventSource receives the ticks as they are sent", async () => {
  const server = await serve("stream.lisp");
  try {
    const page = await browser.newPage();
    await page.goto(server.url + "/");
    const ticks = page.locator("#ticks li");
    await ticks.nth(2).waitFor({ timeout: 10000 });
    const first = JSON.parse(await ticks.nth(0).textContent());
    const third = JSON.parse(await ticks.nth(2).textContent());
    assert.deepEqual(first, { n: 1 });
    assert.deepEqual(third, { n: 3 });
  } finally {
    server.stop();
  }
});
