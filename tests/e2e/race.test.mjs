// The built playground, end to end, in Debian's headless Chromium: the default race on WebGPU
// (SwiftShader), extending the context, a bad model URL, and the CPU fallback without WebGPU.
// Screenshots go to artifacts/ at 1280x800 and 390x844.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { serveDist, launch, screenshot, ARTIFACTS, DIST } from './harness.mjs';

const ARCHS = ['jamba', 'llama', 'mamba', 'rwkv7'];
// SwiftShader is a software GPU: four models loading, compiling their kernels and racing take minutes.
const SLOW = 300_000;

let site;
before(async () => {
  site = await serveDist();
});
after(async () => {
  await site?.close();
});

/** Waits until every lane has text, a tokens/s figure and memory figures; returns the lanes' facts. */
async function waitForRace(page, lanes) {
  await page.waitForFunction(
    (n) => {
      const all = [...document.querySelectorAll('[data-testid=lane]')];
      return (
        all.length === n &&
        all.every(
          (l) =>
            l.querySelector('[data-testid=lane-text]')?.textContent.length > 0 &&
            /[\d.]+ tokens\/s/.test(l.querySelector('[data-testid=lane-tps]')?.textContent ?? '') &&
            /KiB|MiB/.test(l.querySelector('[data-testid=lane-memory]')?.textContent ?? ''),
        )
      );
    },
    lanes,
    { timeout: SLOW, polling: 500 },
  );
  return page.$$eval('[data-testid=lane]', (all) =>
    all.map((l) => ({
      arch: l.dataset.arch,
      backend: l.querySelector('[data-testid=lane-backend]')?.textContent,
      tps: l.querySelector('[data-testid=lane-tps]').textContent,
      memory: l.querySelector('[data-testid=lane-memory]').textContent,
    })),
  );
}

const points = (page, chart) => page.locator(`[data-testid=${chart}] [data-testid=chart-point]`).count();

/** Waits until both charts hold `n` points. */
async function waitForPoints(page, n) {
  await page.waitForFunction(
    (n) =>
      ['chart-latency', 'chart-memory'].every(
        (c) => document.querySelectorAll(`[data-testid=${c}] [data-testid=chart-point]`).length >= n,
      ),
    n,
    { timeout: SLOW, polling: 500 },
  );
}

test('with WebGPU: the default race runs four architectures, and extending the context adds chart points', async () => {
  const browser = await launch({ webgpu: true });
  try {
    const { page } = browser;
    await page.goto(site.url);
    const lanes = await waitForRace(page, 4);
    assert.deepEqual(lanes.map((l) => l.arch).sort(), ARCHS);
    for (const l of lanes) {
      assert.equal(l.backend, 'GPU (WebGPU)', JSON.stringify(l));
      assert.match(l.memory, /weights.*KV cache.*state.*scratch/s);
    }
    // Attention lanes hold a KV cache; Mamba and RWKV hold none.
    const kv = Object.fromEntries(lanes.map((l) => [l.arch, /KV cache\s*([\d.]+ (?:B|KiB|MiB|GiB))/.exec(l.memory)[1]]));
    assert.equal(kv.mamba, '0 B');
    assert.equal(kv.rwkv7, '0 B');
    assert.notEqual(kv.llama, '0 B');
    assert.equal(await page.getByTestId('selftest-verdict').textContent(), 'PASS');
    assert.match(await page.getByTestId('adapter-backend').textContent(), /^BrowserWebGpu/);
    assert.match(await page.getByTestId('timing-source').textContent(), /wall clock/);
    // The generation's end is each lane's first point.
    await waitForPoints(page, 4);
    await page.screenshot({ path: path.join(ARTIFACTS, 'race-webgpu-1280x800.png') });
    await screenshot(page, 'race-webgpu-full');
    assert.match(page.url(), /lanes=llama,mamba,rwkv7,jamba/, 'the URL carries the race');

    await page.getByTestId('extend-context').click();
    await page.getByTestId('lane-progress').first().waitFor({ timeout: 30_000 });
    await waitForPoints(page, 8);
    assert.equal(await points(page, 'chart-latency'), 8);
    assert.equal(await points(page, 'chart-memory'), 8);
    // Only an extension's points carry a fill rate: one per lane on the prefill chart.
    assert.equal(await points(page, 'chart-prefill'), 4);
    assert.match(await page.getByTestId('extend-context').textContent(), /Extend context to 1K/);
    await screenshot(page, 'race-webgpu-extended');
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: path.join(ARTIFACTS, 'race-webgpu-390x844.png') });
    await screenshot(page, 'race-webgpu-390-full');
    assert.deepEqual(browser.errors, []);
    assert.equal(await page.getByTestId('fatal').isVisible(), false);
  } finally {
    await browser.close();
  }
});

test('a bad model URL shows an error on that lane only', async () => {
  const browser = await launch({ webgpu: true });
  try {
    const { page } = browser;
    const missing = encodeURIComponent(`${site.url}models/missing.gguf`);
    await page.goto(`${site.url}?lanes=mamba,url:${missing}&n=4`);
    const error = page.getByTestId('lane-error');
    await error.waitFor({ timeout: SLOW });
    assert.match(await error.textContent(), /HTTP 404/);
    assert.equal(await page.getByTestId('lane-error').count(), 1, 'only the broken lane');
    // The good lane races on.
    await page.waitForFunction(
      () => /tokens\/s/.test(document.querySelector('[data-arch=mamba] [data-testid=lane-tps]')?.textContent ?? '') &&
        document.querySelector('[data-arch=mamba] [data-testid=lane-text]')?.textContent.length > 0,
      null,
      { timeout: SLOW, polling: 500 },
    );
    await screenshot(page, 'bad-url');
    assert.deepEqual(browser.errors.filter((e) => !/404/.test(e)), []);
  } finally {
    await browser.close();
  }
});

test('a model by URL downloads once (the Cache API keeps it); a local file loads through the picker', async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page } = browser;
    const model = 'public/models/rwkv7-q8_0.gguf';
    const hits = () => site.hits.get(`/${model}`) ?? 0;
    const before = hits();
    await page.goto(`${site.url}?lanes=url:${encodeURIComponent(site.url + model)}&n=4`);
    await waitForRace(page, 1);
    assert.equal(await page.getByTestId('lane').getAttribute('data-arch'), 'rwkv7');
    assert.equal(hits() - before, 1, 'downloaded once');
    await page.reload();
    await waitForRace(page, 1);
    assert.equal(hits() - before, 1, 'the reload read the cached copy');
    // Now a file from disk, picked in the lane's picker.
    await page.getByTestId('model-picker').selectOption('file');
    await page.getByTestId('model-file').setInputFiles(path.join(DIST, 'public/models/jamba-q8_0.gguf'));
    await page.waitForSelector('[data-testid=lane][data-arch=jamba]', { timeout: 60_000 });
    await page.getByTestId('start').click();
    await waitForRace(page, 1);
    await screenshot(page, 'url-and-file');
    assert.deepEqual(browser.errors, []);
  } finally {
    await browser.close();
  }
});

test('a KV budget is a memory wall: the Transformer lane stops with a message and a mark, the others go on', async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page } = browser;
    // 400 KiB of KV cache per lane: llama (6 layers x 2 KV heads x 32 x K,V x 4 bytes = 3072 bytes per
    // token) fits 133 tokens, Jamba (one attention layer: 512 bytes per token) 800.
    await page.goto(`${site.url}?kvkib=400`);
    await waitForRace(page, 4);
    await waitForPoints(page, 4);
    await page.getByTestId('extend-context').click();
    const stopped = page.locator('[data-arch=llama] [data-testid=lane-stopped]');
    await stopped.waitFor({ timeout: SLOW });
    assert.match(await stopped.textContent(), /^Stopped: the context is full at 133 tokens: a KV cache budget of 409600 bytes holds 133 tokens at 3072 bytes per token$/);
    await waitForPoints(page, 7);
    await page.waitForFunction(() => !document.querySelector('[data-testid=lane-progress]'), null, { timeout: SLOW });
    for (const chart of ['chart-latency', 'chart-memory']) {
      assert.equal(await page.locator(`[data-testid=${chart}] [data-testid=chart-stop]`).count(), 1, chart);
      assert.equal(await points(page, chart), 7, `${chart}: 2 points for each of 3 lanes, 1 for llama`);
    }
    assert.equal(await page.getByTestId('lane-stopped').count(), 1, 'only the Transformer hit the wall');
    await screenshot(page, 'memory-wall');
    assert.deepEqual(browser.errors, []);
  } finally {
    await browser.close();
  }
});

test('without WebGPU: the race falls back to the CPU, labelled, and still races', async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page } = browser;
    await page.goto(site.url);
    await page.getByTestId('no-webgpu').waitFor({ timeout: 60_000 });
    assert.match(await page.getByTestId('no-webgpu').textContent(), /No WebGPU.*CPU/s);
    const lanes = await waitForRace(page, 4);
    assert.deepEqual(lanes.map((l) => l.arch).sort(), ARCHS);
    for (const l of lanes) assert.equal(l.backend, 'CPU (no WebGPU)');
    await waitForPoints(page, 4);
    await page.getByTestId('extend-context').click();
    await waitForPoints(page, 8);
    await screenshot(page, 'race-cpu-1280');
    assert.equal(await page.getByTestId('fatal').isVisible(), false);
    assert.deepEqual(browser.errors.filter((e) => e.startsWith('pageerror')), []);
  } finally {
    await browser.close();
  }
});
