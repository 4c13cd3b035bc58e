import { defineConfig } from "vitest/config";

// The gateway (Envoy) that `make up` starts; `make web-dev` proxies the API there.
const gateway = process.env.INSIGHTS_GATEWAY_URL ?? "http://127.0.0.1:8080";

export default defineConfig(({ mode }) => ({
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    target: "es2022",
    // Hashed names everywhere: Envoy serves assets/* as immutable for a year.
    assetsDir: "assets",
    sourcemap: false,
    // dist/.vite/manifest.json: which chunks each page loads (scripts/check-size.mjs reads it).
    manifest: true,
    modulePreload: { polyfill: false },
    rollupOptions: {
      output: {
        entryFileNames: "assets/[name]-[hash].js",
        chunkFileNames: "assets/[name]-[hash].js",
        assetFileNames: "assets/[name]-[hash][extname]",
        // Named shared chunks: the runtime every page needs, and the chart library only charts load.
        manualChunks(id: string) {
          if (/node_modules\/(preact|@bufbuild|@connectrpc)\//.test(id)) return "runtime";
          if (id.includes("node_modules/uplot/")) return "charts";
          return undefined;
        },
      },
    },
  },
  server: {
    port: Number(process.env.WEB_DEV_PORT ?? 5173),
    strictPort: true,
    // Same origin in development too: the API (REST and gRPC-Web) goes through Vite to the gateway.
    proxy: mode === "mock" ? undefined : {
      "/api": { target: gateway, changeOrigin: false },
      "/insights.v1.": { target: gateway, changeOrigin: false },
    },
  },
  test: {
    environment: "node",
    include: ["test/**/*.test.ts", "test/**/*.test.tsx"],
  },
}));
