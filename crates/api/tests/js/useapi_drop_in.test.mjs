// A JavaScript client of the useapi.net dialect, as a browser or Node app
// would be written: every answer read with plain JSON.parse, and the ids it
// gave followed to the next call (create -> poll -> download). Starts the
// release binary itself (`mouthpiece serve`) with a temporary config.
//
//   node --test crates/api/tests/js/
//
// MOUTHPIECE_BIN names the binary; by default target/release/mouthpiece
// (under $CARGO_TARGET_DIR when set). A missing binary fails the test.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
const bin = process.env.MOUTHPIECE_BIN
  ?? join(process.env.CARGO_TARGET_DIR ? resolve(process.env.CARGO_TARGET_DIR) : join(repo, 'target'), 'release', 'mouthpiece');
const email = 'js@example.com';

let server;
let base;
let key;
let dir;

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One call; the body is read as text and parsed with plain JSON.parse. */
async function call(method, path, { json, raw, type } = {}) {
  const headers = { authorization: `Bearer ${key}` };
  let body;
  if (json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (raw !== undefined) {
    headers['content-type'] = type;
    body = raw;
  }
  const res = await fetch(base + path, { method, headers, body });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

before(async () => {
  assert.ok(existsSync(bin), `the release binary ${bin} is missing: build it first (cargo build --release)`);
  dir = mkdtempSync(join(tmpdir(), 'mouthpiece-js-'));
  const port = await freePort();
  const cfg = join(dir, 'mouthpiece.toml');
  writeFileSync(cfg, [
    `listen = "127.0.0.1:${port}"`,
    `data_dir = "${join(dir, 'data')}"`,
    '[workers]',
    'fps = 8',
    'preset = "ultrafast"',
    'poll_interval_ms = 100',
    '',
  ].join('\n'));
  const created = execFileSync(bin, ['account', 'create', '--name', 'js', '--json', '--config', cfg]);
  key = JSON.parse(created.toString()).api_key;
  assert.ok(key, 'account create printed no api_key');
  server = spawn(bin, ['serve', '--config', cfg], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, MOUTHPIECE_LOG: 'warn' },
  });
  base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const r = await fetch(`${base}/readyz`);
      if (r.status === 200) break;
    } catch { /* not listening yet */ }
    assert.ok(Date.now() < deadline, 'the server did not become ready');
    assert.equal(server.exitCode, null, 'the server exited');
    await sleep(100);
  }
});

after(() => {
  if (server && server.exitCode === null) server.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('create, poll and download with ids read by JSON.parse', { timeout: 240_000 }, async () => {
  let r = await call('POST', '/v1/kling/accounts/', { json: { email, password: 'secret', maxJobs: 1 } });
  assert.equal(r.status, 200, JSON.stringify(r.body));

  const portrait = readFileSync(join(repo, 'assets/samples/obama.jpg'));
  r = await call('POST', `/v1/kling/assets/?email=${encodeURIComponent(email)}`, { raw: portrait, type: 'image/jpeg' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const imageUrl = r.body.url;

  r = await call('GET', '/v1/kling/assets/uploaded/?email=');
  assert.equal(r.status, 200);
  const upload = r.body.uploadAssetsList[0];
  assert.ok(Number.isSafeInteger(upload.id), `upload id ${upload.id}`);

  r = await call('GET', '/v1/kling/tts/voices/?email=');
  assert.equal(r.status, 200);
  const speakerId = r.body.ttsList[0].speakerId;

  r = await call('POST', '/v1/kling/avatars/', { json: { email, imageUrl, nickname: 'JS' } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const avatarId = r.body.id;

  r = await call('GET', `/v1/kling/avatars/?email=${encodeURIComponent(email)}&type=personal`);
  assert.equal(r.status, 200);
  assert.equal(r.body[0].id, avatarId);

  r = await call('POST', '/v1/kling/avatars/video', {
    json: { email, avatarId, text: 'Hello from a JavaScript client, reading every id with plain JSON parse.', speakerId },
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const taskId = r.body.task.id;
  assert.equal(typeof taskId, 'number');
  assert.ok(Number.isSafeInteger(taskId), `task id ${taskId} is not exact in JavaScript`);

  // Poll with the id exactly as JSON.parse gave it.
  let rec;
  const deadline = Date.now() + 200_000;
  for (;;) {
    r = await call('GET', `/v1/kling/tasks/${taskId}?email=`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.task.id, taskId);
    if (r.body.status_final) { rec = r.body; break; }
    assert.ok(Date.now() < deadline, `task ${taskId} still ${r.body.status_name}`);
    await sleep(250);
  }
  assert.equal(rec.status, 99, JSON.stringify(rec));
  assert.equal(rec.status_name, 'succeed');
  const work = rec.works[0];
  assert.ok(Number.isSafeInteger(work.workId), `work id ${work.workId}`);
  assert.equal(work.taskId, taskId);
  assert.deepEqual(rec.task.taskInfo.inputs.map((i) => i.name), ['input', 'audio']);

  r = await call('GET', '/v1/kling/tasks/?email=');
  assert.ok(r.body.tasks.some((t) => t.task.id === taskId), 'the task is listed under its id');

  // The watermarked result, the cover, and the clean master by workId.
  const mp4 = async (url) => {
    const res = await fetch(url);
    assert.equal(res.status, 200, url);
    const b = Buffer.from(await res.arrayBuffer());
    assert.equal(b.subarray(4, 8).toString('latin1'), 'ftyp', `${url} is not an MP4`);
  };
  await mp4(work.resource.resource);
  const cover = Buffer.from(await (await fetch(work.cover.resource)).arrayBuffer());
  assert.deepEqual([...cover.subarray(0, 3)], [0xff, 0xd8, 0xff], 'the cover is not a JPEG');
  assert.ok(work.cover.width > 0 && work.cover.height > 0);

  r = await call('GET', `/v1/kling/assets/download/?email=&workIds=${work.workId}&fileTypes=MP4`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  await mp4(r.body.cdnUrl);

  r = await call('DELETE', `/v1/kling/tasks/${taskId}/?email=`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.id, taskId);
});
