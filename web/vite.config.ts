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
    proxy: { "/v1": "http://127.0.0.1:8080", "/v2": "http://127.0.0.1:8080", "/api": "http://127.0.0.1:8080" },
  },
});
