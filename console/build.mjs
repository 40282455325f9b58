// Builds the console into dist/: one script, one stylesheet, the page and its icon.
// Deterministic (no hashes, no timestamps), so a rebuild can be compared byte for byte
// with the committed dist/ that the server embeds.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';

rmSync('dist', { recursive: true, force: true });
mkdirSync('dist');
await build({
  entryPoints: { app: 'src/main.jsx' },
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2020',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'eof',
  charset: 'utf8',
  outdir: 'dist',
  logLevel: 'warning',
});
for (const f of ['index.html', 'favicon.svg']) copyFileSync(`src/${f}`, `dist/${f}`);
