// Drives the playground in Debian's Chromium (headless) against a real
// Mouthpiece server. Started by crates/api/tests/playground.rs, which
// passes the server, an API key and the files through the environment.
// Exits non-zero with the reason on the first failed check.

import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import path from "node:path";
import { execFileSync } from "node:child_process";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const base = env("PLAYGROUND_URL");
const key = env("PLAYGROUND_KEY");
const samples = env("PLAYGROUND_SAMPLES");
const shortAudio = env("PLAYGROUND_SHORT_AUDIO");
const out = env("PLAYGROUND_OUT");
const executablePath = process.env.PLAYGROUND_CHROMIUM || "/usr/bin/chromium";

const figures = {};
const step = (name) => console.log(`playground e2e: ${name}`);

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    "--no-sandbox",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
  ],
});

// Every request must go to Mouthpiece itself: no CDN.
function watchOrigins(page) {
  const foreign = [];
  page.on("request", (r) => {
    const u = r.url();
    if (!u.startsWith(base) && !u.startsWith("blob:") && !u.startsWith("data:")) foreign.push(u);
  });
  return foreign;
}

async function signIn(page) {
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#signin-status", { hasText: "Signed in" }).waitFor({ timeout: 15000 });
  await page.locator("#templates button.avatar").first().waitFor();
}

try {
  // ---------- desktop ----------
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await ctx.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  const page = await ctx.newPage();
  const consoleErrors = [];
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  const foreign = watchOrigins(page);
  await page.goto(base);
  assert.equal(await page.title(), "Mouthpiece playground");

  step("a wrong key is refused in plain words");
  await page.getByLabel("API key").fill("not-a-key");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#signin-status", { hasText: "not accepted" }).waitFor({ timeout: 10000 });

  step("sign in");
  await signIn(page);
  const templates = await page.locator("#templates button.avatar").count();
  assert.ok(templates >= 3, `only ${templates} templates`);
  figures.templates = templates;

  step("keyboard: tabs move with the arrow keys, every field has a label");
  await page.locator("#tab-templates").focus();
  await page.keyboard.press("ArrowRight");
  assert.equal(await page.locator("#tab-mine").getAttribute("aria-selected"), "true");
  assert.ok(await page.locator("#tab-mine").evaluate((el) => el === document.activeElement));
  const unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll("input, select, textarea, button")]
      .filter((el) => {
        const named = (el.labels && el.labels.length) || el.getAttribute("aria-label") || (el.tagName === "BUTTON" && el.textContent.trim());
        return !named;
      })
      .map((el) => el.id || el.outerHTML.slice(0, 60)),
  );
  assert.deepEqual(unlabelled, [], "controls without a label");

  step("upload a portrait with no face: a readable error");
  await page.getByRole("tab", { name: "Upload" }).click();
  await page.setInputFiles("#portrait-file", path.join(samples, "coffee-no-face.png"));
  const noFace = page.locator("#portrait-error");
  await noFace.waitFor({ state: "visible", timeout: 30000 });
  const noFaceText = await noFace.textContent();
  assert.match(noFaceText, /^Portrait: No face was found/);
  assert.ok(await page.locator("#save-avatar").isDisabled());
  figures.noFaceMessage = noFaceText;

  step("upload a portrait: preview and face box");
  await page.setInputFiles("#portrait-file", path.join(samples, "obama.jpg"));
  await page.locator("#face-status", { hasText: "Face found" }).waitFor({ timeout: 30000 });
  assert.ok(await noFace.isHidden());
  const img = await page.locator("#portrait-img").boundingBox();
  const box = await page.locator("#face-box").boundingBox();
  assert.ok(img && box, "preview and face box are shown");
  // The box sits inside the picture, in its upper half-ish, a sensible size.
  assert.ok(box.x >= img.x - 1 && box.y >= img.y - 1, "box inside the image");
  assert.ok(box.x + box.width <= img.x + img.width + 1 && box.y + box.height <= img.y + img.height + 1, "box inside the image");
  const share = (box.width * box.height) / (img.width * img.height);
  assert.ok(share > 0.02 && share < 0.6, `face box covers ${share} of the picture`);
  assert.ok(box.y + box.height / 2 < img.y + img.height * 0.7, "face centre in the upper part");
  figures.faceShare = Number(share.toFixed(3));
  await page.locator("section", { has: page.locator("#portrait-h") }).screenshot({ path: path.join(out, "playground-face.png") });

  step("save it as an avatar with a nickname");
  await page.getByLabel("Nickname").fill("Test presenter");
  await page.getByRole("button", { name: "Save as avatar" }).click();
  await page.locator("#portrait-choice", { hasText: "Test presenter" }).waitFor({ timeout: 30000 });
  const mine = page.locator("#mine button.avatar", { hasText: "Test presenter" });
  await mine.waitFor();
  assert.equal(await mine.getAttribute("aria-pressed"), "true");

  step("record from the (fake) microphone");
  await page.getByRole("radio", { name: "Microphone" }).check();
  await page.getByRole("button", { name: "● Record" }).click();
  await page.waitForTimeout(2600);
  await page.getByRole("button", { name: "■ Stop" }).click();
  await page.locator("#record-status", { hasText: "Recorded" }).waitFor({ timeout: 10000 });
  const recorded = Number((await page.locator("#record-status").textContent()).match(/([\d.]+) s/)[1]);
  assert.ok(recorded > 2 && recorded < 4, `recorded ${recorded} s`);
  assert.ok(await page.locator("#voice-audio").isVisible());

  step("audio too short: a readable error");
  await page.getByRole("radio", { name: "Audio file" }).check();
  await page.setInputFiles("#audio-file", shortAudio);
  await page.getByRole("button", { name: "Make the video" }).click();
  const resultError = page.locator("#result-error");
  await resultError.waitFor({ state: "visible", timeout: 30000 });
  const shortText = await resultError.textContent();
  assert.match(shortText, /^Audio: The audio lasts 1\.00 s; it must last between 2 and 300 seconds/);
  figures.shortAudioMessage = shortText;

  step("type text, pick a voice, preview it");
  await page.getByRole("radio", { name: "Text", exact: true }).check();
  await page.getByLabel("Text to speak").fill("Hello there, this is a short test of the talking avatar.");
  const voices = await page.locator("#voice option").count();
  assert.ok(voices > 1, `${voices} voices`);
  await page.getByLabel("Emotion").selectOption("happy");
  await page.getByRole("button", { name: "▶ Preview the voice" }).click();
  const preview = page.locator("#voice-audio");
  await page.waitForFunction(() => {
    const a = document.getElementById("voice-audio");
    return a && !a.hidden && a.src.includes("/v1/files/") && a.duration > 0;
  }, null, { timeout: 30000 });
  const speech = await preview.evaluate((a) => a.duration);
  assert.ok(speech > 2 && speech < 8, `speech lasts ${speech} s`);
  figures.speechSeconds = Number(speech.toFixed(3));

  step("submit and follow the progress");
  await page.getByLabel("Prompt").fill("smile, nod at the end");
  await page.getByLabel("Watermark").check();
  const started = Date.now();
  await page.getByRole("button", { name: "Make the video" }).click();
  const stages = new Set();
  for (;;) {
    const visible = await page.locator("#result").isVisible();
    if (visible) break;
    const err = await resultError.isVisible();
    assert.ok(!err, `failed: ${await resultError.textContent()}`);
    const s = await page.locator("#stage").textContent();
    if (s) stages.add(s);
    assert.ok(Date.now() - started < 240000, "the video did not come within 4 minutes");
    await page.waitForTimeout(150);
  }
  figures.stagesSeen = [...stages];
  assert.ok([...stages].some((s) => /^\d+% · (Waiting in the queue|Rendering)$/.test(s)), `no progress shown: ${[...stages]}`);
  const bar = await page.locator("#progress-bar").getAttribute("aria-valuenow");
  assert.equal(bar, "100");

  step("the video plays and lasts as long as the speech");
  const video = page.locator("#video");
  await page.waitForFunction(() => document.getElementById("video").readyState >= 1, null, { timeout: 30000 });
  const v = await video.evaluate(async (el) => {
    el.muted = true;
    await el.play();
    const t0 = performance.now();
    while (el.currentTime < 0.4 && performance.now() - t0 < 10000) await new Promise((r) => setTimeout(r, 50));
    return {
      duration: el.duration,
      expected: Number(el.dataset.expectedDuration),
      currentTime: el.currentTime,
      paused: el.paused,
      width: el.videoWidth,
      height: el.videoHeight,
      src: el.currentSrc,
      error: el.error && el.error.message,
    };
  });
  figures.video = v;
  assert.equal(v.error, null);
  assert.ok(!v.paused && v.currentTime >= 0.4, `the video does not play: ${JSON.stringify(v)}`);
  assert.equal(Math.min(v.width, v.height), 720, "std is 720p");
  assert.ok(Math.abs(v.duration - speech) < 0.2, `video ${v.duration} s vs speech ${speech} s`);
  assert.ok(Math.abs(v.duration - v.expected) < 0.1, `video ${v.duration} s vs the API's ${v.expected} s`);
  assert.match(v.src, /watermark/i, "the watermarked copy is shown");
  const dl = page.locator("#download");
  assert.equal(await dl.getAttribute("href"), v.src);
  assert.match(await dl.getAttribute("download"), /^mouthpiece-\d+\.mp4$/);
  await video.evaluate((el) => el.pause());

  step("copy as curl for each dialect");
  const paths = {
    kling: "/v1/videos/avatar/image2video",
    useapi: "/v1/kling/avatars/video",
    kie: "/api/v1/jobs/createTask",
    aimlapi: "/v2/video/generations",
  };
  for (const [d, p] of Object.entries(paths)) {
    await page.locator(`[data-dialect="${d}"]`).click();
    const text = await page.locator("#curl").textContent();
    assert.ok(text.includes(`${base}${p}`), `${d}: ${text}`);
    assert.ok(text.includes("$MOUTHPIECE_KEY"));
    if (d !== "useapi") assert.ok(text.includes("/v1/audio/tts"), `${d} speaks the text first`);
  }
  // Each command, run as given, is accepted by its dialect.
  const accepted = {
    kling: (r) => r.code === 0 && /^\d+$/.test(r.data.task_id),
    useapi: (r) => r.status === 5 && r.task && r.task.id,
    kie: (r) => r.code === 200 && r.data.taskId,
    aimlapi: (r) => r.status === "queued" && r.id,
  };
  for (const d of Object.keys(paths)) {
    await page.locator(`[data-dialect="${d}"]`).click();
    const cmd = await page.locator("#curl").textContent();
    const outText = execFileSync("bash", ["-c", `set -euo pipefail\n${cmd}`], {
      env: { ...process.env, MOUTHPIECE_KEY: key },
      encoding: "utf8",
    });
    assert.ok(accepted[d](JSON.parse(outText)), `${d} curl answered ${outText}`);
  }
  figures.curlsAccepted = Object.keys(paths).length;
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  assert.ok(copied.includes(paths.aimlapi), "the last curl is on the clipboard");
  await page.locator('[data-dialect="kling"]').click();

  step("history shows the task");
  const row = page.locator("#history li.succeed", { hasText: "Test presenter" }).first();
  await row.waitFor({ timeout: 10000 });
  const rowText = await row.textContent();
  assert.match(rowText, /done/i);
  assert.match(rowText, /Test presenter/);
  assert.match(rowText, /\d+\.\d s video/);
  assert.match(rowText, /took \d+\.\d s/);
  const failedRow = page.locator("#history li.failed").first();
  const failedText = await failedRow.locator(".error").textContent();
  assert.match(failedText, /^No face was found in the image/, "a failure in plain words");
  assert.match(await failedRow.textContent(), /failed/i);
  figures.failedTaskMessage = failedText;
  await page.waitForFunction(() => {
    const t = document.querySelector("#history li.succeed img.thumb");
    return t && t.complete && t.naturalWidth > 0;
  });

  await page.screenshot({ path: path.join(out, "playground-desktop.png"), fullPage: true });

  step("the key is remembered");
  await page.reload();
  await page.locator("#signin-status", { hasText: "Signed in" }).waitFor({ timeout: 15000 });
  assert.deepEqual(foreign, [], "requests outside Mouthpiece");
  assert.deepEqual(consoleErrors, [], "page errors");
  await ctx.close();

  // ---------- phone ----------
  step("phone-sized screen");
  const phone = await browser.newContext({ viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  const mp = await phone.newPage();
  const foreignPhone = watchOrigins(mp);
  await mp.goto(base);
  await signIn(mp);
  const widths = await mp.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
  assert.ok(widths.scroll <= widths.client, `the page scrolls sideways: ${JSON.stringify(widths)}`);
  for (const sel of ["#submit", "#signin-btn", "#tts-preview", "#templates button.avatar >> nth=0"]) {
    const b = await mp.locator(sel).boundingBox();
    assert.ok(b && b.x >= 0 && b.x + b.width <= 375 + 0.5, `${sel} is off screen: ${JSON.stringify(b)}`);
    assert.ok(b.height >= 44, `${sel} is a small touch target: ${b.height}px`);
  }
  await mp.locator("#templates button.avatar").first().tap();
  await mp.locator("#history li.succeed").first().waitFor({ timeout: 10000 });
  await mp.screenshot({ path: path.join(out, "playground-phone.png"), fullPage: true });
  assert.deepEqual(foreignPhone, []);
  await phone.close();

  console.log(`playground e2e figures: ${JSON.stringify(figures)}`);
  console.log("playground e2e: all checks passed");
} catch (e) {
  console.error(`playground e2e FAILED: ${e && e.stack ? e.stack : e}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
