import "./style.css";
import { Api, ApiError, type Avatar, type FaceData, type KlingEnvelope, type TaskData, type TtsData, type Voice } from "./api";
import { curlFor, type Dialect, type Job, type Speech } from "./curl";
import { toWav } from "./wav";

const KEY_STORE = "mouthpiece.apiKey";
const META_STORE = "mouthpiece.taskMeta";
const PLAYGROUND_EMAIL = "playground@mouthpiece.local";

const $ = <T extends HTMLElement = HTMLElement>(id: string) => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing`);
  return el as T;
};

function show(el: HTMLElement, on: boolean) {
  el.hidden = !on;
}

function say(el: HTMLElement, text: string) {
  el.textContent = text;
  if (el.classList.contains("error")) show(el, text !== "");
}

function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}

// ---------- state ----------

type Portrait =
  | { kind: "avatar"; id: string; name: string; imageUrl: string }
  | { kind: "upload"; file: File; previewUrl: string; assetUrl: string | null; faceOk: boolean };

interface TaskMeta {
  thumb?: string;
  watermark: boolean;
  label?: string;
  curl?: Job;
}

const state = {
  api: null as Api | null,
  portrait: null as Portrait | null,
  voices: [] as Voice[],
  audio: null as { blob: Blob; type: string; seconds: number | null; assetUrl: string | null } | null,
  tts: null as { key: string; url: string } | null,
  job: null as Job | null,
  polling: 0,
  lastCurl: "kling" as Dialect,
};

function meta(): Record<string, TaskMeta> {
  try {
    return JSON.parse(localStorage.getItem(META_STORE) || "{}") as Record<string, TaskMeta>;
  } catch {
    return {};
  }
}

function saveMeta(id: string, m: TaskMeta) {
  const all = meta();
  all[id] = m;
  // Keep the newest 100.
  const ids = Object.keys(all).sort().slice(-100);
  localStorage.setItem(META_STORE, JSON.stringify(Object.fromEntries(ids.map((k) => [k, all[k]]))));
}

function api(): Api {
  if (!state.api) throw new ApiError("Sign in with your API key first.", 401);
  return state.api;
}

// ---------- sign in ----------

async function signIn(key: string) {
  const status = $("signin-status");
  say(status, "Signing in…");
  const a = new Api(key);
  try {
    // Avatars and uploads live under a useapi.net linked account: use the
    // first one, or link one for the playground.
    const accounts = await a.call<Record<string, { email: string }>>("GET", "/v1/kling/accounts");
    const emails = Object.keys(accounts);
    if (emails.length === 0) {
      const password = crypto.getRandomValues(new Uint32Array(4)).join("-");
      await a.call("POST", "/v1/kling/accounts", { json: { email: PLAYGROUND_EMAIL, password, maxJobs: 5 } });
      a.email = PLAYGROUND_EMAIL;
    } else {
      a.email = emails.sort()[0];
    }
  } catch (e) {
    say(status, errorText(e));
    status.classList.add("bad");
    return;
  }
  status.classList.remove("bad");
  state.api = a;
  localStorage.setItem(KEY_STORE, key);
  document.body.classList.add("signed-in");
  say(status, `Signed in (avatars under ${a.email}).`);
  show($("signout-btn"), true);
  $<HTMLButtonElement>("signin-btn").textContent = "Switch key";
  await Promise.all([loadTemplates(), loadMine(), loadVoices(), loadHistory()]);
}

function signOut() {
  localStorage.removeItem(KEY_STORE);
  state.api = null;
  document.body.classList.remove("signed-in");
  $<HTMLInputElement>("api-key").value = "";
  say($("signin-status"), "Signed out.");
  show($("signout-btn"), false);
  $<HTMLButtonElement>("signin-btn").textContent = "Sign in";
  for (const id of ["templates", "mine", "history"]) $(id).replaceChildren();
}

// ---------- portraits ----------

function avatarItem(a: Avatar, template: boolean): HTMLLIElement {
  const li = document.createElement("li");
  const b = document.createElement("button");
  b.type = "button";
  b.className = "avatar";
  b.setAttribute("aria-pressed", "false");
  b.dataset.avatarId = a.id;
  const name = (template ? a.name : a.nickname) || `Avatar ${a.id}`;
  const img = document.createElement("img");
  img.src = a.imageResources[0]?.url ?? "";
  img.alt = "";
  img.loading = "lazy";
  const span = document.createElement("span");
  span.textContent = name;
  b.append(img, span);
  b.addEventListener("click", () => {
    choosePortrait({ kind: "avatar", id: a.id, name, imageUrl: img.src });
  });
  li.append(b);
  return li;
}

function markChosen() {
  const id = state.portrait?.kind === "avatar" ? state.portrait.id : null;
  document.querySelectorAll<HTMLButtonElement>("button.avatar").forEach((b) => {
    b.setAttribute("aria-pressed", String(b.dataset.avatarId === id));
  });
}

function choosePortrait(p: Portrait | null) {
  state.portrait = p;
  markChosen();
  const c = $("portrait-choice");
  if (!p) c.textContent = "No portrait chosen yet.";
  else if (p.kind === "avatar") c.textContent = `Portrait: ${p.name}.`;
  else c.textContent = p.faceOk ? `Portrait: ${p.file.name} (not saved as an avatar).` : "The uploaded portrait cannot be used.";
}

async function loadTemplates() {
  try {
    const list = await api().call<Avatar[]>("GET", `/v1/kling/avatars${api().q({ type: "templates" })}`);
    $("templates").replaceChildren(...list.map((a) => avatarItem(a, true)));
    markChosen();
  } catch (e) {
    say($("signin-status"), errorText(e));
  }
}

async function loadMine() {
  try {
    const list = await api().call<Avatar[]>("GET", `/v1/kling/avatars${api().q({ type: "personal" })}`);
    $("mine").replaceChildren(...list.map((a) => avatarItem(a, false)));
    show($("mine-empty"), list.length === 0);
    markChosen();
    return list;
  } catch (e) {
    say($("signin-status"), errorText(e));
    return [];
  }
}

async function portraitFile(file: File) {
  const err = $("portrait-error");
  say(err, "");
  const save = $<HTMLButtonElement>("save-avatar");
  save.disabled = true;
  if (!/^image\/(jpeg|png|webp)$/.test(file.type)) {
    say(err, `${file.name} is not a JPEG, PNG or WebP picture.`);
    return;
  }
  const previewUrl = URL.createObjectURL(file);
  const img = $<HTMLImageElement>("portrait-img");
  img.src = previewUrl;
  show($("portrait-preview"), true);
  const box = $("face-box");
  show(box, false);
  const fs = $("face-status");
  say(fs, "Looking for a face…");
  const p: Portrait = { kind: "upload", file, previewUrl, assetUrl: null, faceOk: false };
  choosePortrait(p);
  try {
    const r = await api().call<KlingEnvelope<FaceData>>("POST", "/v1/playground/face", { body: file, contentType: file.type });
    const f = r.data.faces[0];
    // Percentages keep the box on the face whatever size the preview is.
    box.style.left = `${(100 * f.x) / r.data.width}%`;
    box.style.top = `${(100 * f.y) / r.data.height}%`;
    box.style.width = `${(100 * f.w) / r.data.width}%`;
    box.style.height = `${(100 * f.h) / r.data.height}%`;
    show(box, true);
    const n = r.data.faces.length;
    say(fs, n === 1 ? "Face found." : `${n} faces found; the largest (boxed) will talk.`);
    p.faceOk = true;
    save.disabled = false;
    choosePortrait(p);
    if (!$<HTMLInputElement>("nickname").value) {
      $<HTMLInputElement>("nickname").value = file.name.replace(/\.[^.]+$/, "").slice(0, 30);
    }
  } catch (e) {
    say(fs, "");
    say(err, errorText(e));
    choosePortrait(p);
  }
}

async function uploadAsset(blob: Blob, type: string, what: "Portrait" | "Audio"): Promise<string> {
  try {
    const r = await api().call<{ url: string }>("POST", `/v1/kling/assets/${api().q()}`, { body: blob, contentType: type });
    return r.url;
  } catch (e) {
    // The upload endpoint names the request body; say which file it was.
    if (e instanceof ApiError) throw new ApiError(e.message.replace(/^Upload: /, `${what}: `), e.status);
    throw e;
  }
}

async function saveAvatar() {
  const p = state.portrait;
  const err = $("portrait-error");
  say(err, "");
  if (!p || p.kind !== "upload" || !p.faceOk) {
    say(err, "Upload a portrait with a face first.");
    return;
  }
  const btn = $<HTMLButtonElement>("save-avatar");
  btn.disabled = true;
  const fs = $("face-status");
  try {
    say(fs, "Saving…");
    p.assetUrl ??= await uploadAsset(p.file, p.file.type, "Portrait");
    const nickname = $<HTMLInputElement>("nickname").value.trim() || undefined;
    const r = await api().call<{ id: string }>("POST", "/v1/kling/avatars", {
      json: { email: api().email, imageUrl: p.assetUrl, nickname },
    });
    const list = await loadMine();
    const a = list.find((x) => String(x.id) === String(r.id));
    choosePortrait({ kind: "avatar", id: String(r.id), name: a?.nickname || nickname || "Avatar", imageUrl: a?.imageResources[0]?.url ?? p.assetUrl });
    say(fs, `Saved as the avatar “${a?.nickname ?? nickname}”.`);
    selectTab("mine");
  } catch (e) {
    say(fs, "");
    say(err, errorText(e));
  } finally {
    btn.disabled = false;
  }
}

const TABS = ["templates", "mine", "upload"] as const;
function selectTab(name: (typeof TABS)[number], focus = false) {
  for (const t of TABS) {
    const tab = $(`tab-${t}`);
    const on = t === name;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    show($(`panel-${t}`), on);
    if (on && focus) tab.focus();
  }
}

// ---------- voice ----------

function voiceMode(): "text" | "upload" | "record" {
  return (document.querySelector<HTMLInputElement>('input[name="voice-mode"]:checked')?.value ?? "text") as "text" | "upload" | "record";
}

function setVoiceMode() {
  const m = voiceMode();
  show($("voice-text"), m === "text");
  show($("voice-upload"), m === "upload");
  show($("voice-record"), m === "record");
  const audio = $<HTMLAudioElement>("voice-audio");
  const src = m === "text" ? state.tts?.url : state.audio ? URL.createObjectURL(state.audio.blob) : null;
  if (src) audio.src = src;
  else audio.removeAttribute("src");
  show(audio, Boolean(src));
  say($("voice-error"), "");
}

async function loadVoices() {
  try {
    const r = await api().call<{ ttsList: Voice[] }>("GET", `/v1/kling/tts/voices${api().q()}`);
    state.voices = r.ttsList;
    const sel = $<HTMLSelectElement>("voice");
    sel.replaceChildren(
      ...r.ttsList.map((v) => {
        const o = document.createElement("option");
        o.value = v.speakerId;
        o.textContent = `${v.name} (${v.language})`;
        return o;
      }),
    );
    const first = r.ttsList[0];
    const emo = $<HTMLSelectElement>("emotion");
    emo.replaceChildren(
      ...(first?.emotions ?? []).map((e) => {
        const o = document.createElement("option");
        o.value = e.key;
        o.textContent = e.name;
        return o;
      }),
    );
    if ([...emo.options].some((o) => o.value === "neutral")) emo.value = "neutral";
  } catch (e) {
    say($("voice-error"), errorText(e));
  }
}

function textSpeech(): Extract<Speech, { kind: "text" }> {
  const speakerId = $<HTMLSelectElement>("voice").value;
  const v = state.voices.find((x) => x.speakerId === speakerId);
  return {
    kind: "text",
    text: $<HTMLTextAreaElement>("speech-text").value.trim(),
    speakerId,
    language: v?.language ?? "en",
    speed: Number($<HTMLInputElement>("speed").value),
    emotion: $<HTMLSelectElement>("emotion").value,
  };
}

async function previewTts() {
  const s = textSpeech();
  const err = $("voice-error");
  say(err, "");
  if (!s.text) {
    say(err, "Type something to say first.");
    return;
  }
  const btn = $<HTMLButtonElement>("tts-preview");
  btn.disabled = true;
  try {
    const r = await api().call<KlingEnvelope<TtsData>>("POST", "/v1/audio/tts", {
      json: { text: s.text, voice_id: s.speakerId, voice_language: s.language, voice_speed: s.speed },
    });
    const a = r.data.task_result.audios[0];
    state.tts = { key: JSON.stringify([s.text, s.speakerId, s.speed]), url: a.url };
    const audio = $<HTMLAudioElement>("voice-audio");
    audio.src = a.url;
    show(audio, true);
    await audio.play().catch(() => undefined);
  } catch (e) {
    say(err, errorText(e));
  } finally {
    btn.disabled = false;
  }
}

const AUDIO_TYPES: Record<string, string> = {
  "audio/wav": "audio/wav",
  "audio/x-wav": "audio/wav",
  "audio/wave": "audio/wav",
  "audio/mpeg": "audio/mpeg",
  "audio/mp3": "audio/mpeg",
  "audio/mp4": "audio/mp4",
  "audio/x-m4a": "audio/mp4",
  "audio/aac": "audio/aac",
};

async function audioFile(file: File) {
  const err = $("voice-error");
  say(err, "");
  let blob: Blob = file;
  let type = AUDIO_TYPES[file.type];
  let seconds: number | null = null;
  if (!type) {
    // Anything else the browser can decode is sent as WAV.
    try {
      const w = await toWav(file);
      blob = w.wav;
      seconds = w.seconds;
      type = "audio/wav";
    } catch {
      say(err, `${file.name} is not an audio file this page can read; use WAV, MP3, M4A or AAC.`);
      return;
    }
  }
  state.audio = { blob, type, seconds, assetUrl: null };
  setVoiceMode();
}

let recorder: MediaRecorder | null = null;
async function toggleRecord() {
  const btn = $<HTMLButtonElement>("record");
  const status = $("record-status");
  if (recorder) {
    recorder.stop();
    return;
  }
  say($("voice-error"), "");
  let stream: MediaStream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch {
    say($("voice-error"), "The microphone could not be opened: allow this page to use it, or upload a file instead.");
    return;
  }
  const chunks: Blob[] = [];
  const r = new MediaRecorder(stream);
  recorder = r;
  const started = Date.now();
  const tick = window.setInterval(() => say(status, `Recording… ${Math.round((Date.now() - started) / 1000)} s`), 250);
  r.ondataavailable = (ev) => chunks.push(ev.data);
  r.onstop = async () => {
    window.clearInterval(tick);
    stream.getTracks().forEach((t) => t.stop());
    recorder = null;
    btn.textContent = "● Record";
    btn.setAttribute("aria-pressed", "false");
    try {
      const w = await toWav(new Blob(chunks, { type: r.mimeType }));
      state.audio = { blob: w.wav, type: "audio/wav", seconds: w.seconds, assetUrl: null };
      say(status, `Recorded ${w.seconds.toFixed(1)} s.`);
      setVoiceMode();
    } catch {
      say(status, "");
      say($("voice-error"), "The recording could not be read; try again.");
    }
  };
  r.start();
  btn.textContent = "■ Stop";
  btn.setAttribute("aria-pressed", "true");
}

// ---------- making the video ----------

function progressTo(pct: number, stage: string) {
  const bar = $("progress-bar");
  bar.style.width = `${pct}%`;
  bar.setAttribute("aria-valuenow", String(pct));
  bar.setAttribute("aria-valuetext", `${pct}% ${stage}`);
  say($("stage"), `${pct}% · ${stage}`);
}

async function submit() {
  const err = $("result-error");
  say(err, "");
  const btn = $<HTMLButtonElement>("submit");
  const p = state.portrait;
  if (!p) {
    say(err, "Choose a portrait first (a template, one of your avatars, or an upload).");
    return;
  }
  if (p.kind === "upload" && !p.faceOk) {
    say(err, "The uploaded portrait has no usable face; choose another picture.");
    return;
  }
  const mode = voiceMode();
  if (mode === "text" && !textSpeech().text) {
    say(err, "Type the text to speak first.");
    return;
  }
  if (mode !== "text" && !state.audio) {
    say(err, mode === "record" ? "Record something first." : "Choose an audio file first.");
    return;
  }
  btn.disabled = true;
  window.clearTimeout(state.polling);
  show($("result"), false);
  show($("result-empty"), false);
  show($("progress-wrap"), true);
  progressTo(0, "Uploading…");
  try {
    let imageUrl: string;
    let avatarId: string | null = null;
    if (p.kind === "avatar") {
      avatarId = p.id;
      imageUrl = p.imageUrl;
    } else {
      p.assetUrl ??= await uploadAsset(p.file, p.file.type, "Portrait");
      imageUrl = p.assetUrl;
    }
    let speech: Speech;
    if (mode === "text") {
      speech = textSpeech();
    } else {
      const a = state.audio!;
      a.assetUrl ??= await uploadAsset(a.blob, a.type, "Audio");
      speech = { kind: "url", url: a.assetUrl };
    }
    const watermark = $<HTMLInputElement>("watermark").checked;
    const job: Job = {
      origin: location.origin,
      email: api().email,
      avatarId,
      imageUrl,
      speech,
      prompt: $<HTMLTextAreaElement>("prompt").value.trim(),
      mode: (document.querySelector<HTMLInputElement>('input[name="mode"]:checked')?.value ?? "std") as "std" | "pro",
      watermark,
    };
    const body: Record<string, unknown> = { email: job.email, prompt: job.prompt || undefined, mode: job.mode };
    if (avatarId) body.avatarId = avatarId;
    else body.imageUrl = imageUrl;
    if (speech.kind === "text") Object.assign(body, { text: speech.text, speakerId: speech.speakerId, speed: speech.speed, emotion: speech.emotion });
    else {
      body.audioUrl = speech.url;
      if (mode !== "text") body.emotion = $<HTMLSelectElement>("emotion").value || undefined;
    }
    progressTo(0, "Sending…");
    const rec = await api().call<{ task: { id: string } }>("POST", "/v1/kling/avatars/video", { json: body });
    const id = String(rec.task.id);
    saveMeta(id, { thumb: imageUrl, watermark, label: p.kind === "avatar" ? p.name : p.file.name, curl: job });
    state.job = job;
    showCurl(state.lastCurl);
    void loadHistory();
    await follow(id, watermark);
  } catch (e) {
    show($("progress-wrap"), false);
    say(err, errorText(e));
  } finally {
    btn.disabled = false;
  }
}

const STAGES: Record<TaskData["task_status"], string> = {
  submitted: "Waiting in the queue",
  processing: "Rendering",
  succeed: "Done",
  failed: "Failed",
};

async function follow(id: string, watermark: boolean) {
  const poll = async () => {
    try {
      const r = await api().call<KlingEnvelope<TaskData>>("GET", `/v1/videos/avatar/image2video/${id}`);
      const t = r.data;
      const pct = t.task_status === "succeed" ? 100 : t.task_progress;
      progressTo(pct, STAGES[t.task_status]);
      if (t.task_status === "succeed") {
        showVideo(t, watermark);
        void loadHistory();
        return;
      }
      if (t.task_status === "failed") {
        show($("progress-wrap"), false);
        say($("result-error"), `The video could not be made. ${plainTaskError(t.task_status_msg)}`);
        void loadHistory();
        return;
      }
    } catch (e) {
      say($("result-error"), errorText(e));
      if (e instanceof ApiError && e.status >= 400 && e.status < 500) return;
    }
    state.polling = window.setTimeout(poll, 700);
  };
  await poll();
}

function plainTaskError(msg: string): string {
  if (!msg) return "No reason was given.";
  const s = msg.replace(/^invalid (image|sound_file|audio): /, (_m, f: string) => (f === "image" ? "Portrait: " : "Audio: "));
  return s.charAt(0).toUpperCase() + s.slice(1) + (/[.!?]$/.test(s) ? "" : ".");
}

function showVideo(t: TaskData, watermark: boolean) {
  const v = t.task_result.videos[0];
  if (!v) return;
  const url = watermark && v.watermark_url ? v.watermark_url : v.url;
  const video = $<HTMLVideoElement>("video");
  video.src = url;
  video.dataset.taskId = t.task_id;
  video.dataset.expectedDuration = v.duration;
  const dl = $<HTMLAnchorElement>("download");
  dl.href = url;
  dl.download = `mouthpiece-${t.task_id}.mp4`;
  const took = ((t.updated_at - t.created_at) / 1000).toFixed(1);
  say($("video-info"), `${Number(v.duration).toFixed(1)} s video, made in ${took} s${watermark ? ", watermarked" : ""}.`);
  show($("progress-wrap"), false);
  show($("result"), true);
  show($("result-empty"), false);
  const m = meta()[t.task_id];
  if (m?.curl) {
    state.job = m.curl;
    showCurl(state.lastCurl);
  }
}

function showCurl(d: Dialect) {
  if (!state.job) return;
  state.lastCurl = d;
  $("curl").textContent = curlFor(d, state.job);
  document.querySelectorAll<HTMLButtonElement>("[data-dialect]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.dialect === d)));
  show($("curl-wrap"), true);
}

async function copyCurl(d: Dialect) {
  showCurl(d);
  const text = $("curl").textContent ?? "";
  try {
    await navigator.clipboard.writeText(text);
    say($("curl-status"), "Copied to the clipboard.");
  } catch {
    // No clipboard (plain http, or denied): select it for Ctrl+C.
    const range = document.createRange();
    range.selectNodeContents($("curl"));
    getSelection()?.removeAllRanges();
    getSelection()?.addRange(range);
    say($("curl-status"), "Selected: press Ctrl+C to copy.");
  }
}

// ---------- history ----------

function ago(ms: number): string {
  return new Date(ms).toLocaleString(undefined, { dateStyle: "short", timeStyle: "short" });
}

async function loadHistory() {
  if (!state.api) return;
  let tasks: TaskData[];
  try {
    tasks = (await api().call<KlingEnvelope<TaskData[]>>("GET", "/v1/videos/avatar/image2video?pageNum=1&pageSize=20")).data;
  } catch (e) {
    say($("history-empty"), errorText(e));
    return;
  }
  const metas = meta();
  const items = tasks.map((t) => {
    const m = metas[t.task_id];
    const li = document.createElement("li");
    li.className = `task ${t.task_status}`;
    const v = t.task_result.videos[0];
    let thumb: HTMLElement;
    if (m?.thumb) {
      const img = document.createElement("img");
      img.src = m.thumb;
      img.alt = "";
      thumb = img;
    } else if (v) {
      // A poster frame from the video itself.
      const vid = document.createElement("video");
      vid.src = `${v.url}#t=0.5`;
      vid.preload = "metadata";
      vid.muted = true;
      vid.setAttribute("aria-hidden", "true");
      thumb = vid;
    } else {
      thumb = document.createElement("div");
    }
    thumb.classList.add("thumb");
    const body = document.createElement("div");
    body.className = "task-body";
    const title = document.createElement("p");
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = t.task_status === "processing" ? `rendering ${t.task_progress}%` : STAGES[t.task_status].toLowerCase();
    title.append(badge, ` ${m?.label ?? `Task ${t.task_id}`}`);
    const info = document.createElement("p");
    info.className = "hint";
    const bits = [ago(t.created_at)];
    if (v) bits.push(`${Number(v.duration).toFixed(1)} s video`);
    if (t.task_status === "succeed" || t.task_status === "failed") bits.push(`took ${((t.updated_at - t.created_at) / 1000).toFixed(1)} s`);
    info.textContent = bits.join(" · ");
    body.append(title, info);
    if (t.task_status === "failed") {
      const e = document.createElement("p");
      e.className = "error";
      e.textContent = plainTaskError(t.task_status_msg);
      body.append(e);
    }
    if (v) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "secondary";
      b.textContent = "Watch";
      b.setAttribute("aria-label", `Watch ${m?.label ?? `task ${t.task_id}`}`);
      b.addEventListener("click", () => {
        showVideo(t, m?.watermark ?? false);
        $("result-h").scrollIntoView({ behavior: "smooth" });
        $<HTMLVideoElement>("video").focus();
      });
      body.append(b);
    }
    li.append(thumb, body);
    return li;
  });
  $("history").replaceChildren(...items);
  say($("history-empty"), "No videos yet.");
  show($("history-empty"), items.length === 0);
}

// ---------- wiring ----------

function dropZone(zone: HTMLElement, input: HTMLInputElement, onFile: (f: File) => void) {
  input.addEventListener("change", () => {
    const f = input.files?.[0];
    if (f) onFile(f);
    input.value = "";
  });
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    const f = e.dataTransfer?.files[0];
    if (f) onFile(f);
  });
}

function init() {
  $("signin").addEventListener("submit", (e) => {
    e.preventDefault();
    const key = $<HTMLInputElement>("api-key").value.trim();
    if (key) void signIn(key);
  });
  $("signout-btn").addEventListener("click", signOut);
  for (const t of TABS) {
    $(`tab-${t}`).addEventListener("click", () => selectTab(t));
    $(`tab-${t}`).addEventListener("keydown", (e) => {
      const i = TABS.indexOf(t);
      if (e.key === "ArrowRight") selectTab(TABS[(i + 1) % TABS.length], true);
      else if (e.key === "ArrowLeft") selectTab(TABS[(i + TABS.length - 1) % TABS.length], true);
      else return;
      e.preventDefault();
    });
  }
  dropZone($("drop"), $<HTMLInputElement>("portrait-file"), (f) => void portraitFile(f));
  dropZone($("audio-drop"), $<HTMLInputElement>("audio-file"), (f) => void audioFile(f));
  $("save-avatar").addEventListener("click", () => void saveAvatar());
  document.querySelectorAll('input[name="voice-mode"]').forEach((r) => r.addEventListener("change", setVoiceMode));
  const speed = $<HTMLInputElement>("speed");
  speed.addEventListener("input", () => ($("speed-out").textContent = `${Number(speed.value).toFixed(1)}×`));
  $("tts-preview").addEventListener("click", () => void previewTts());
  $("record").addEventListener("click", () => void toggleRecord());
  $("submit").addEventListener("click", () => void submit());
  document.querySelectorAll<HTMLButtonElement>("[data-dialect]").forEach((b) => b.addEventListener("click", () => void copyCurl(b.dataset.dialect as Dialect)));
  $("history-refresh").addEventListener("click", () => void loadHistory());
  const key = localStorage.getItem(KEY_STORE);
  if (key) {
    $<HTMLInputElement>("api-key").value = key;
    void signIn(key);
  }
}

init();
