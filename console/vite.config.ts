import path from "node:path";
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const here = path.dirname(fileURLToPath(import.meta.url));

// The console is served by the server at /ui/ from dist/console (src/api/static-assets.ts).
export default defineConfig({
  root: here,
  base: "/ui/",
  plugins: [react()],
  build: {
    outDir: path.join(here, "..", "dist", "console"),
    emptyOutDir: true,
    sourcemap: false,
    // The size budget is checked by scripts/console-size.mjs after the build.
    chunkSizeWarningLimit: 1000,
  },
});
