// A thin client for Mouthpiece's public API, as any caller would use it.

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

// Ids are below 2^53 now, but tasks made before that have 19-digit ids,
// beyond what a JS number holds exactly: read long integers as strings.
export function parseJson(text: string): unknown {
  return JSON.parse(text.replace(/([:[,]\s*)(-?\d{16,})(?=\s*[,}\]])/g, '$1"$2"'));
}

const FIELDS: Record<string, string> = {
  image: "Portrait",
  imageUrl: "Portrait",
  image_url: "Portrait",
  "input.image_url": "Portrait",
  audioUrl: "Audio",
  audio_url: "Audio",
  sound_file: "Audio",
  audio: "Audio",
  audio_id: "Speech",
  text: "Text",
  speakerId: "Voice",
  voice_id: "Voice",
  speed: "Speed",
  emotion: "Emotion",
  prompt: "Prompt",
  nickname: "Nickname",
  body: "Upload",
  "Content-Type": "File type",
};

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** A server message in plain words: "invalid image: no face…" becomes "Portrait: No face…". */
export function plain(message: string): string {
  const m = /^invalid ([\w.\- ]+?): ([\s\S]*)$/.exec(message.trim());
  if (m) {
    return `${FIELDS[m[1]] ?? capitalise(m[1])}: ${capitalise(m[2])}`;
  }
  return capitalise(message.trim());
}

function messageOf(status: number, body: unknown, fallback: string): string {
  if (status === 401) {
    return "Your API key was not accepted. Check it and sign in again.";
  }
  const b = body as Record<string, unknown> | null;
  const raw = b && typeof b === "object" ? (b.message ?? b.error ?? b.msg) : null;
  if (typeof raw === "string" && raw.trim()) {
    return plain(raw);
  }
  if (status === 429) {
    return "Too many videos are being made for this account at once; wait for one to finish and try again.";
  }
  return fallback;
}

export interface CallOptions {
  json?: unknown;
  body?: Blob;
  contentType?: string;
}

export class Api {
  constructor(
    public key: string,
    public email: string | null = null,
  ) {}

  async call<T>(method: string, path: string, opts: CallOptions = {}): Promise<T> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.key}` };
    let body: BodyInit | undefined;
    if (opts.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(opts.json);
    } else if (opts.body) {
      headers["Content-Type"] = opts.contentType || opts.body.type || "application/octet-stream";
      body = opts.body;
    }
    let resp: Response;
    try {
      resp = await fetch(path, { method, headers, body });
    } catch {
      throw new ApiError("The server could not be reached. Is `mouthpiece serve` running?", 0);
    }
    const text = await resp.text();
    let parsed: unknown = null;
    try {
      parsed = text ? parseJson(text) : null;
    } catch {
      parsed = null;
    }
    const p = parsed as Record<string, unknown> | null;
    // Kling's envelope says success with code 0, whatever the HTTP status.
    const klingFailed = p && typeof p === "object" && typeof p.code === "number" && p.code !== 0 && "request_id" in p;
    if (!resp.ok || klingFailed) {
      throw new ApiError(messageOf(resp.status, parsed, `The server answered ${resp.status} ${resp.statusText}.`), resp.status);
    }
    return parsed as T;
  }

  /** `?email=` for the useapi dialect, when an account was picked. */
  q(extra: Record<string, string> = {}): string {
    const params = new URLSearchParams(extra);
    if (this.email) params.set("email", this.email);
    const s = params.toString();
    return s ? `?${s}` : "";
  }
}

// ---- wire shapes (only the fields the page reads) ----

export interface Avatar {
  id: string;
  name?: string;
  nickname?: string;
  prompt?: string;
  imageResources: { url: string }[];
  ttsSpeaker?: string;
}

export interface Voice {
  name: string;
  speakerId: string;
  language: string;
  emotions: { name: string; key: string }[];
}

export interface KlingEnvelope<T> {
  code: number;
  message: string;
  data: T;
}

export interface TaskData {
  task_id: string;
  task_status: "submitted" | "processing" | "succeed" | "failed";
  task_status_msg: string;
  task_progress: number;
  task_result: { videos: { id: string; url: string; watermark_url?: string; duration: string }[] };
  watermark_info: { enabled?: boolean };
  created_at: number;
  updated_at: number;
}

export interface TtsData {
  task_result: { audios: { id: string; url: string; duration: string }[] };
}

export interface FaceData {
  width: number;
  height: number;
  faces: { x: number; y: number; w: number; h: number }[];
}
