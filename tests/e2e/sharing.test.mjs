// Safe sharing, end to end in headless Chromium: a shared link's model from another site waits for the
// reader (host and size shown, nothing downloaded before the click); the model cache lists and removes
// its entries, and a cached copy that no longer parses is dropped and downloaded again; the download size
// cap holds; a model's name holding markup is shown as text.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { serveDist, launch, screenshot, DIST } from './harness.mjs';

const SLOW = 300_000;
let site;
before(async () => {
  site = await serveDist();
});
after(async () => {
  await site?.close();
});

const lane = (page, i) => page.getByTestId('lane').nth(i);

/** Waits until the lane of architecture `arch` shows a tokens/s figure (it is racing). */
const waitForSpeed = (page, arch) =>
  page.waitForFunction(
    (arch) => /tokens\/s/.test(document.querySelector(`[data-arch=${arch}] [data-testid=lane-tps]`)?.textContent ?? ''),
    arch,
    { timeout: SLOW, polling: 250 },
  );

test('a shared link asks before loading from another site; the cache lists, drops and removes', async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page } = browser;
    const model = '/public/models/rwkv7-q8_0.gguf';
    // The same server under another name is another origin: another site, as far as the page knows.
    const foreign = `http://localhost:${site.port}${model}`;
    const gets = () => site.hits.get(model) ?? 0;
    await page.goto(`${site.url}?lanes=mamba,url:${encodeURIComponent(foreign)}&n=4`);
    const consent = lane(page, 1).getByTestId('lane-consent');
    await consent.waitFor({ timeout: SLOW });
    assert.equal(await consent.getByTestId('consent-host').textContent(), `localhost:${site.port}`);
    await page.waitForFunction(
      () => /[KM]iB/.test(document.querySelector('[data-testid=consent-size]')?.textContent ?? ''),
      null,
      { timeout: 60_000 },
    );
    const size = fs.statSync(path.join(DIST, model)).size;
    assert.equal(gets(), 0, 'nothing downloaded before the click');
    assert.equal(site.heads.get(model), 1, 'one HEAD request for the size');
    // The bundled lane races meanwhile.
    await waitForSpeed(page, 'mamba');
    await screenshot(page, 'consent');
    await consent.getByTestId('consent-load').click();
    await page.waitForSelector('[data-testid=lane][data-arch=rwkv7]', { timeout: SLOW });
    assert.equal(gets(), 1, 'downloaded on the click');

    // The cache lists it with its size.
    await page.getByTestId('cache-refresh').click();
    const entry = page.locator(`[data-testid=cache-entry][data-url="${foreign}"]`);
    await entry.waitFor({ timeout: 60_000 });
    assert.match(await entry.textContent(), /rwkv7-q8_0\.gguf/);
    assert.ok(size > 0);

    // A cached copy that no longer parses is dropped and downloaded again.
    await page.evaluate(async (url) => {
      const bucket = await caches.open('archrace-models-v1');
      await bucket.put(url, new Response('not a GGUF file'));
    }, foreign);
    await page.reload();
    await lane(page, 1).getByTestId('consent-load').click({ timeout: SLOW });
    await page.waitForSelector('[data-testid=lane][data-arch=rwkv7]', { timeout: SLOW });
    assert.equal(gets(), 2, 'the broken copy was replaced by a download');

    // Removed from the cache: one entry, then all.
    await page.getByTestId('cache-refresh').click();
    await entry.waitFor({ timeout: 60_000 });
    await entry.getByTestId('cache-remove').click();
    await page.getByTestId('cache-empty').waitFor({ timeout: 60_000 });
    assert.equal(await page.evaluate(async () => (await (await caches.open('archrace-models-v1')).keys()).length), 0);
    assert.deepEqual(browser.errors.filter((e) => !/Failed to load resource/.test(e)), []);
  } finally {
    await browser.close();
  }
});

test('the download cap holds, and markup in a model name is shown as text', async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page } = browser;
    await page.goto(`${site.url}?lanes=mamba&n=48`);
    await page.waitForSelector('[data-testid=lane][data-arch=mamba]', { timeout: SLOW });
    // A server that claims 3 GiB: refused from the header, before the body.
    await page.getByTestId('model-picker').selectOption('url');
    await page.getByTestId('model-url').fill(`${site.url}huge.gguf`);
    await page.getByTestId('model-url-load').click();
    const error = page.getByTestId('lane-error');
    await error.waitFor({ timeout: 60_000 });
    assert.match(await error.textContent(), /is 3072 MiB; a lane takes at most 1536 MiB/);

    // The bundled Mamba with its general.name rewritten, same length, to markup.
    const bytes = fs.readFileSync(path.join(DIST, 'public/models/mamba-q8_0.gguf'));
    const key = bytes.indexOf('general.name');
    const name = bytes.indexOf('shakespeare-2m', key);
    assert.ok(key > 0 && name > key && name - key < 40, 'general.name found');
    const markup = '<b id=x>xx</b>';
    assert.equal(markup.length, 'shakespeare-2m'.length);
    bytes.write(markup, name, 'latin1');
    // Common tokens rewritten, same byte length, to markup: generated text holds some of them.
    const tokens = { 'Ġthe': '<br/>', 'Ġand': '<hr/>', 'Ġto': '<i/>', 'Ġof': '<u/>', 'Ġmy': '<s/>', 'ĠI': '<p>', 'Ġa': '<b>', 'Ġme': '<q/>', 'Ġthou': '<img/>' };
    for (const [token, html] of Object.entries(tokens)) {
      const piece = Buffer.from(token, 'utf8');
      assert.equal(Buffer.byteLength(html), piece.length, token);
      const length = Buffer.alloc(8);
      length.writeBigUInt64LE(BigInt(piece.length));
      const at = bytes.indexOf(Buffer.concat([length, piece]));
      assert.ok(at > 0, `token ${token} found`);
      bytes.write(html, at + 8, 'latin1');
    }
    await page.getByTestId('model-picker').selectOption('file');
    await page.getByTestId('model-file').setInputFiles({ name: 'markup.gguf', mimeType: 'application/octet-stream', buffer: bytes });
    await page.waitForFunction(
      () => document.querySelector('[data-testid=lane] h3')?.textContent.includes('<b id=x>'),
      null,
      { timeout: SLOW },
    );
    assert.equal(await page.evaluate(() => document.getElementById('x')), null, 'no element made from the name');
    assert.equal(await page.locator('[data-testid=lane] h3 b').count(), 0);
    await page.getByTestId('start').click();
    await page.waitForFunction(
      () => /<(br\/|hr\/|i\/|u\/|s\/|p|b|q\/|img\/)>/.test(document.querySelector('[data-testid=lane-text]')?.textContent ?? ''),
      null,
      { timeout: 120_000, polling: 250 },
    );
    assert.equal(await page.locator('[data-testid=lane-text] *').count(), 0, 'generated markup made no element');
    await screenshot(page, 'markup-name');
  } finally {
    await browser.close();
  }
});

test('with WebGPU: a device destroyed mid-race is offered a restart on a new device, and the race runs again', async () => {
  const browser = await launch({ webgpu: true });
  try {
    const { page } = browser;
    // Keep every device the page asks for, so the test can destroy it as a driver reset would.
    await page.addInitScript(() => {
      window.__gpuDevices = [];
      const request = GPUAdapter.prototype.requestDevice;
      GPUAdapter.prototype.requestDevice = async function (...args) {
        const device = await request.apply(this, args);
        window.__gpuDevices.push(device);
        return device;
      };
    });
    await page.goto(`${site.url}?lanes=mamba&n=256`);
    await waitForSpeed(page, 'mamba');
    assert.equal(await page.evaluate(() => window.__gpuDevices.length), 1);
    await page.evaluate(() => window.__gpuDevices[0].destroy());
    const lost = page.getByTestId('device-lost');
    await lost.waitFor({ timeout: SLOW });
    assert.match(await lost.textContent(), /Every lane stopped: the GPU device was lost/);
    assert.match(await page.getByTestId('lane-error').textContent(), /device/i);
    await screenshot(page, 'device-lost');
    await page.getByTestId('restart-device').click();
    await page.getByTestId('lane-error').waitFor({ state: 'detached', timeout: SLOW });
    await waitForSpeed(page, 'mamba');
    assert.equal(await page.evaluate(() => window.__gpuDevices.length), 2, 'a new device');
    assert.equal(await page.getByTestId('device-lost').count(), 0);
    assert.equal(await page.getByTestId('lane-backend').textContent(), 'GPU (WebGPU)');
    assert.deepEqual(browser.errors.filter((e) => !/destroyed|lost|Instance dropped|Device/i.test(e)), []);
  } finally {
    await browser.close();
  }
});

test('with WebGPU: on a GPU of 3 MiB (gpumib=3) the model that does not fit fails with out-of-memory, the other races', async () => {
  const browser = await launch({ webgpu: true });
  try {
    const { page } = browser;
    await page.goto(`${site.url}?lanes=mamba,jamba&gpumib=3&n=8`);
    const error = page.locator('[data-testid=lane-error]');
    await error.waitFor({ timeout: SLOW });
    assert.equal(await error.count(), 1, 'only one lane fails');
    assert.match(await error.textContent(), /out of memory.*device memory budget of 3145728 bytes/);
    await waitForSpeed(page, 'mamba');
    assert.match(page.url(), /gpumib=3/, 'the budget stays in the link');
    await screenshot(page, 'gpu-budget');
  } finally {
    await browser.close();
  }
});
