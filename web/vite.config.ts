import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

// The agent / supervisor / admin single-page app. The Rust binary embeds
// web/dist and serves index.html for every non-API path, so assets are
// referenced from the site root.
export default defineConfig({
  plugins: [svelte()],
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    assetsDir: 'assets',
    sourcemap: false,
  },
  server: {
    proxy: {
      '/api': { target: process.env.SWITCHBOARD_URL ?? 'http://127.0.0.1:8080', ws: true },
      '/widget.js': process.env.SWITCHBOARD_URL ?? 'http://127.0.0.1:8080',
      '/demo': process.env.SWITCHBOARD_URL ?? 'http://127.0.0.1:8080',
    },
  },
});
