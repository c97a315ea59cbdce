import { defineConfig } from "vitest/config";

// `npm run dev` serves the app with hot reload and sends /api to a running
// stack (`make run`; ORCHEST_API_URL to point elsewhere).
const api = process.env.ORCHEST_API_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  build: {
    outDir: "dist",
    assetsDir: "assets",
    sourcemap: false,
    // One bundle: about 170 KB gzipped, under the 500 KB budget.
    chunkSizeWarningLimit: 1000,
    rolldownOptions: {
      // React Flow marks its modules "use client" (for server components): meaningless here.
      onwarn(warning, warn) {
        if (warning.code !== "MODULE_LEVEL_DIRECTIVE") warn(warning);
      },
    },
  },
  server: { proxy: { "/api": { target: api, changeOrigin: false } } },
  test: { include: ["src/**/*.test.ts"], environment: "node" },
});
