// Vite build of ehall's browser UI.  Source in web/src, output in web/dist (served by
// `ehall serve`: see the web root in src/http/server.c).  Element Plus is imported per
// component (unplugin-vue-components), so each page's chunk carries only what it uses;
// every text asset gets a .gz twin that ehall sends to clients accepting gzip.
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { readdirSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { defineConfig } from 'vite';
import vue from '@vitejs/plugin-vue';
import Components from 'unplugin-vue-components/vite';
import { ElementPlusResolver } from 'unplugin-vue-components/resolvers';

const src = fileURLToPath(new URL('./src', import.meta.url));
const out = fileURLToPath(new URL('./dist', import.meta.url));

// After the bundle is written: FILE.gz beside every compressible FILE.
function gzipTwins() {
  const walk = (dir) =>
    readdirSync(dir).flatMap((n) => {
      const p = join(dir, n);
      return statSync(p).isDirectory() ? walk(p) : [p];
    });
  return {
    name: 'ehall-gzip-twins',
    apply: 'build',
    closeBundle() {
      for (const f of walk(out)) {
        if (!/\.(js|css|html|svg|json|txt|map)$/.test(f)) continue;
        writeFileSync(`${f}.gz`, gzipSync(readFileSync(f), { level: 9 }));
      }
    },
  };
}

export default defineConfig({
  root: src,
  base: '/',
  publicDir: false,
  plugins: [
    vue(),
    Components({
      dirs: [],
      dts: false,
      resolvers: [ElementPlusResolver({ importStyle: 'css' })],
    }),
    gzipTwins(),
  ],
  build: {
    outDir: out,
    emptyOutDir: true,
    target: 'es2020',
    reportCompressedSize: false,
    chunkSizeWarningLimit: 800,
  },
  server: {
    proxy: { '/api': 'http://127.0.0.1:8080' },
  },
});
