import { defineConfig } from "vite";

// Built into web/dist and embedded in the `mouthpiece` binary; everything
// (scripts, styles) is served by Mouthpiece itself, nothing from a CDN.
export default defineConfig({
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    target: "es2022",
  },
  server: {
    // `npm run dev` talks to a local `mouthpiece serve`.
    proxy: Object.fromEntries(["/v1", "/v2", "/api"].map((p) => [p, process.env.MOUTHPIECE_URL ?? "http://127.0.0.1:8080"])),
  },
});
