// Recordings come from MediaRecorder as WebM/Opus, which the API does not
// take: decode them in the browser and write a 16-bit mono WAV.

export async function toWav(blob: Blob): Promise<{ wav: Blob; seconds: number }> {
  const ctx = new AudioContext();
  try {
    const audio = await ctx.decodeAudioData(await blob.arrayBuffer());
    const n = audio.length;
    const mono = new Float32Array(n);
    for (let c = 0; c < audio.numberOfChannels; c++) {
      const ch = audio.getChannelData(c);
      for (let i = 0; i < n; i++) mono[i] += ch[i] / audio.numberOfChannels;
    }
    const rate = audio.sampleRate;
    const out = new DataView(new ArrayBuffer(44 + n * 2));
    const text = (at: number, s: string) => {
      for (let i = 0; i < s.length; i++) out.setUint8(at + i, s.charCodeAt(i));
    };
    text(0, "RIFF");
    out.setUint32(4, 36 + n * 2, true);
    text(8, "WAVE");
    text(12, "fmt ");
    out.setUint32(16, 16, true);
    out.setUint16(20, 1, true); // PCM
    out.setUint16(22, 1, true); // mono
    out.setUint32(24, rate, true);
    out.setUint32(28, rate * 2, true);
    out.setUint16(32, 2, true);
    out.setUint16(34, 16, true);
    text(36, "data");
    out.setUint32(40, n * 2, true);
    for (let i = 0; i < n; i++) {
      const v = Math.max(-1, Math.min(1, mono[i]));
      out.setInt16(44 + i * 2, v < 0 ? v * 0x8000 : v * 0x7fff, true);
    }
    return { wav: new Blob([out.buffer], { type: "audio/wav" }), seconds: audio.duration };
  } finally {
    void ctx.close();
  }
}
