import { defineConfig } from 'vite';

// The website chat widget: one self-contained IIFE, dist/widget.js.
// Built after the app (emptyOutDir: false keeps the app's files).
export default defineConfig({
  publicDir: false,
  build: {
    outDir: 'dist',
    emptyOutDir: false,
    target: 'es2022',
    sourcemap: false,
    lib: {
      entry: 'widget/main.ts',
      name: 'SwitchboardWidget',
      formats: ['iife'],
      fileName: () => 'widget.js',
    },
  },
});
