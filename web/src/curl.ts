// "Copy as curl": the request the page made, written for each API dialect
// Mouthpiece speaks. Text is spoken by the built-in TTS first where the
// dialect takes audio only (Kling via audio_id, kie.ai and AI/ML API via
// the TTS file's URL).

export type Speech =
  | { kind: "url"; url: string }
  | { kind: "text"; text: string; speakerId: string; language: string; speed: number; emotion: string };

export interface Job {
  origin: string;
  email: string | null;
  avatarId: string | null;
  imageUrl: string;
  speech: Speech;
  prompt: string;
  mode: "std" | "pro";
  watermark: boolean;
}

export const DIALECTS = [
  { id: "kling", label: "Kling" },
  { id: "useapi", label: "useapi.net" },
  { id: "kie", label: "kie.ai" },
  { id: "aimlapi", label: "AI/ML API" },
] as const;
export type Dialect = (typeof DIALECTS)[number]["id"];

const VAR = "__SPEECH__";

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function post(origin: string, path: string, body: unknown, speechVar?: string): string {
  let json = shellQuote(JSON.stringify(body, null, 1).replace(/\n\s*/g, " "));
  if (speechVar) {
    // Splice the shell variable into the single-quoted JSON.
    json = json.replace(`"${VAR}"`, `"'"$${speechVar}"'"`);
  }
  return [
    `curl -s ${origin}${path}`,
    `  -H "Authorization: Bearer $MOUTHPIECE_KEY"`,
    `  -H 'Content-Type: application/json'`,
    `  -d ${json}`,
  ].join(" \\\n");
}

function tts(job: Job, field: "id" | "url", variable: string): string {
  const s = job.speech;
  if (s.kind !== "text") return "";
  const body = { text: s.text, voice_id: s.speakerId, voice_language: s.language, voice_speed: s.speed };
  return `${variable}=$(${post(job.origin, "/v1/audio/tts", body)} \\\n  | jq -r '.data.task_result.audios[0].${field}')\n`;
}

export function curlFor(dialect: Dialect, job: Job): string {
  const s = job.speech;
  const prompt = job.prompt || undefined;
  switch (dialect) {
    case "useapi": {
      const body: Record<string, unknown> = {};
      if (job.email) body.email = job.email;
      if (job.avatarId) body.avatarId = job.avatarId;
      else body.imageUrl = job.imageUrl;
      if (s.kind === "text") Object.assign(body, { text: s.text, speakerId: s.speakerId, speed: s.speed });
      else body.audioUrl = s.url;
      if (s.kind === "text" && s.emotion) body.emotion = s.emotion;
      Object.assign(body, { prompt, mode: job.mode });
      return post(job.origin, "/v1/kling/avatars/video", body);
    }
    case "kling": {
      const body: Record<string, unknown> = { image: job.imageUrl };
      if (s.kind === "text") body.audio_id = VAR;
      else body.sound_file = s.url;
      Object.assign(body, { prompt, mode: job.mode, watermark_info: { enabled: job.watermark } });
      return tts(job, "id", "AUDIO_ID") + post(job.origin, "/v1/videos/avatar/image2video", body, s.kind === "text" ? "AUDIO_ID" : undefined);
    }
    case "kie": {
      const input = { image_url: job.imageUrl, audio_url: s.kind === "text" ? VAR : s.url, prompt: job.prompt };
      const body = { model: job.mode === "pro" ? "kling/ai-avatar-pro" : "kling/ai-avatar-standard", input };
      return tts(job, "url", "AUDIO_URL") + post(job.origin, "/api/v1/jobs/createTask", body, s.kind === "text" ? "AUDIO_URL" : undefined);
    }
    case "aimlapi": {
      const body = {
        model: job.mode === "pro" ? "klingai/avatar-pro" : "klingai/avatar-standard",
        image_url: job.imageUrl,
        audio_url: s.kind === "text" ? VAR : s.url,
        prompt,
      };
      return tts(job, "url", "AUDIO_URL") + post(job.origin, "/v2/video/generations", body, s.kind === "text" ? "AUDIO_URL" : undefined);
    }
  }
}
