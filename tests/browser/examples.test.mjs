// The example pages in a real browser: Debian's Chromium, headless, driven
// by playwright-core. Each test starts `valk serve` on a free port.
//
//   VALK=build/valk node --test tests/browser/examples.test.mjs
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = fileURLToPath(new URL("../..", import.meta.url));
const valk = process.env.VALK ?? `${root}/build/valk`;
const browserPath = process.env.CHROMIUM ?? "/usr/bin/chromium";

// Starts `valk serve --port 0 APP` (with more `flags`) and resolves with
// {url, stop, stdout} once it reports its port; stdout() is what it wrote
// there so far.
function serve(app, env = {}, flags = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(valk, ["serve", "--port", "0", ...flags, `${root}/examples/${app}`], {
      env: { ...process.env, ...env },
    });
    let output = "";
    let stdout = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    const timer = setTimeout(() => reject(new Error(`no port from valk serve:\n${output}`)), 20000);
    child.stderr.on("data", (chunk) => {
      output += chunk;
      const m = output.match(/serving .* on (https?:\/\/[^ ]+:\d+) /);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], stop: () => child.kill("SIGTERM"), stdout: () => stdout });
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

// Echoes two messages through the WebSocket of websocket.lisp's page.
async function echoThroughThePage(page, url) {
  await page.goto(url + "/");
  await page.locator("#state", { hasText: "open" }).waitFor({ timeout: 10000 });
  for (const text of ["hello <b>there</b>", "count"]) {
    await page.fill("#text", text);
    await page.click("#send button");
  }
  const echoes = page.locator("#echoes li");
  await echoes.nth(1).waitFor({ timeout: 10000 });
  assert.equal(await echoes.nth(0).textContent(), "hello <b>there</b>");
  assert.equal(await echoes.nth(1).textContent(), "messages: 2");
  // Compressed both ways: Chromium offers permessage-deflate, the example
  // takes it, and a long message goes compressed each way.
  assert.match(await page.evaluate(() => ws.extensions), /^permessage-deflate/);
  const long = "a long message, ".repeat(40);
  await page.fill("#text", long);
  await page.click("#send button");
  await echoes.nth(2).waitFor({ timeout: 10000 });
  assert.equal(await echoes.nth(2).textContent(), long);
}

test("websocket.lisp over HTTPS: the WebSocket rides the page's HTTP/2 connection", async () => {
  const server = await serve("websocket.lisp", {}, [
    "--tls-cert", `${root}/certs/dev.crt`, "--tls-key", `${root}/certs/dev.key`,
    "--access-log", "-",
  ]);
  try {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    await echoThroughThePage(page, server.url);
    // The close handshake, both ways over the stream.
    await page.evaluate(() => ws.close(1000));
    await page.locator("#state", { hasText: "closed 1000" }).waitFor({ timeout: 10000 });
    await context.close();
    // Chromium opened it with an extended CONNECT (RFC 8441), not a
    // connection of its own; its access log line comes once it closed.
    const logged = /"CONNECT \/echo HTTP\/2\.0" 200/;
    for (let i = 0; i < 50 && !logged.test(server.stdout()); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(server.stdout(), logged);
    assert.doesNotMatch(server.stdout(), /"GET \/echo HTTP\/1\.1"/);
  } finally {
    server.stop();
  }
});

test("websocket.lisp: the page's WebSocket gets its messages echoed", async () => {
  const server = await serve("websocket.lisp");
  try {
    await echoThroughThePage(await browser.newPage(), server.url);
  } finally {
    server.stop();
  }
});

// A redis-server of the test's own on a Unix socket; resolves with {url, stop}.
function redisServer() {
  const dir = mkdtempSync(`${tmpdir()}/valk-chat-redis-`);
  const socket = `${dir}/redis.sock`;
  const child = spawn("redis-server", ["--port", "0", "--unixsocket", socket, "--save", "",
                                       "--appendonly", "no", "--dir", dir]);
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const wait = () => {
      if (existsSync(socket)) {
        resolve({
          url: `unix://${socket}`,
          stop: () => {
            child.kill("SIGTERM");
            rmSync(dir, { recursive: true, force: true });
          },
        });
      } else if (Date.now() - started > 10000) {
        reject(new Error("redis-server did not start"));
      } else {
        setTimeout(wait, 50);
      }
    };
    wait();
  });
}

test("chat.lisp: a message sent from a page on one server shows on a page of another", async () => {
  const redis = await redisServer();
  const a = await serve("chat.lisp", { REDIS_URL: redis.url });
  const b = await serve("chat.lisp", { REDIS_URL: redis.url });
  try {
    const ann = await browser.newPage();
    const bob = await browser.newPage();
    await ann.goto(a.url + "/");
    await bob.goto(b.url + "/");
    // Both pages listen once their event streams are open: bob pings
    // until a ping reaches both.
    await bob.fill("input[name=from]", "bob");
    for (let i = 0; i < 50; i++) {
      await bob.fill("input[name=text]", `ping ${i}`);
      await bob.click("button");
      await ann.waitForTimeout(100);
      const heard = [await ann.locator("#messages li").count(), await bob.locator("#messages li").count()];
      if (heard[0] > 0 && heard[1] > 0) break;
    }
    await ann.fill("input[name=from]", "ann");
    await ann.fill("input[name=text]", "hello <b>bob</b>");
    await ann.click("button");
    const last = bob.locator("#messages li", { hasText: "hello" });
    await last.waitFor({ timeout: 10000 });
    assert.equal(await last.textContent(), "ann: hello <b>bob</b>");
    assert.equal(await bob.locator("#messages li b").count(), 0, "text, not markup");
  } finally {
    a.stop();
    b.stop();
    redis.stop();
  }
});
