// Shared pieces of the end-to-end tests: a static server for dist/ on loopback, and Debian's Chromium
// started headless with the flags that keep it quiet on a closed network.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const DIST = path.resolve(here, '../../dist');
export const ARTIFACTS = path.resolve(here, 'artifacts');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
  '.css': 'text/css',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.gguf': 'application/octet-stream',
};

/**
 * Serves DIST on 127.0.0.1 at a free port; resolves to { url, close, hits, heads, ranges } (`hits`: GET
 * requests for a whole file per path, `heads`: HEAD requests per path, `ranges`: GET requests with a
 * `Range: bytes=a-b` header per path, answered 206 with Content-Range). Every response allows any origin
 * (so the same server, named `localhost`, stands in for another site) and gives its Content-Length.
 * `/huge.gguf` claims 3 GiB and sends none of it. `pages` adds HTML pages by path (test hosts).
 */
export function serveDist({ pages = {}, root = DIST } = {}) {
  if (!fs.existsSync(path.join(DIST, 'index.html'))) {
    throw new Error(`${DIST}/index.html is missing: run trunk build --release first (scripts/dev build)`);
  }
  const hits = new Map();
  const heads = new Map();
  const ranges = new Map();
  const server = http.createServer((req, res) => {
    const urlPath = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    const count = req.method === 'HEAD' ? heads : range ? ranges : hits;
    count.set(urlPath, (count.get(urlPath) ?? 0) + 1);
    const cors = {
      'access-control-allow-origin': '*',
      'access-control-allow-headers': 'range',
      'access-control-expose-headers': 'content-range, content-length',
    };
    if (req.method === 'OPTIONS') {
      res.writeHead(204, cors).end();
      return;
    }
    if (pages[urlPath] !== undefined) {
      res.writeHead(200, { ...cors, 'content-type': 'text/html; charset=utf-8' }).end(pages[urlPath]);
      return;
    }
    if (urlPath === '/huge.gguf') {
      res.writeHead(200, { ...cors, 'content-type': 'application/octet-stream', 'content-length': String(3 * 2 ** 30) });
      res.flushHeaders();
      setTimeout(() => res.destroy(), 5000);
      return;
    }
    const file = path.join(root, urlPath === '/' ? 'index.html' : urlPath);
    if (!file.startsWith(root) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404, cors).end('not found');
      return;
    }
    const size = fs.statSync(file).size;
    if (range && req.method === 'GET') {
      const start = Number(range[1]);
      const end = Math.min(Number(range[2]), size - 1);
      res.writeHead(206, {
        ...cors,
        'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
        'content-length': String(end - start + 1),
        'content-range': `bytes ${start}-${end}/${size}`,
      });
      fs.createReadStream(file, { start, end }).pipe(res);
      return;
    }
    res.writeHead(200, {
      ...cors,
      'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
      'content-length': String(fs.statSync(file).size),
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({ url: `http://127.0.0.1:${port}/`, port, hits, heads, ranges, close: () => new Promise((r) => server.close(r)) });
    });
  });
}

const BASE_FLAGS = [
  '--headless=new',
  '--no-sandbox',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];

/** Launches /usr/bin/chromium with a fresh profile; `webgpu` adds --enable-unsafe-webgpu. */
export async function launch({ webgpu }) {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'archrace-e2e-'));
  const args = [...BASE_FLAGS, ...(webgpu ? ['--enable-unsafe-webgpu'] : [])];
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args,
    viewport: { width: 1280, height: 800 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console.error: ${m.text()}`);
  });
  return {
    page,
    errors,
    close: async () => {
      await context.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** Saves a screenshot under artifacts/ (kept by CI as a test artifact). */
export async function screenshot(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}
