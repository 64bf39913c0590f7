// The built playground, end to end: on Chromium's WebGPU (SwiftShader) the WGSL kernel runs and matches
// the CPU; without WebGPU the page says so plainly; no page errors either way.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serveDist, launch, screenshot } from './harness.mjs';

let site;
before(async () => {
  site = await serveDist();
});
after(async () => {
  await site?.close();
});

test('with WebGPU: adapter shown, matvec_q8_0 runs on the GPU and matches the CPU', async () => {
  const browser = await launch({ webgpu: true });
  try {
    const { page } = browser;
    await page.goto(site.url);
    const verdict = page.getByTestId('selftest-verdict');
    await verdict.waitFor({ timeout: 120_000 });
    await screenshot(page, 'webgpu-1280x800');
    assert.equal(await verdict.textContent(), 'PASS', await page.locator('main').innerText());
    const backend = await page.getByTestId('adapter-backend').textContent();
    assert.match(backend, /^BrowserWebGpu/);
    assert.match(await page.getByTestId('feature-shader-f16').textContent(), /^no/, 'SwiftShader has no shader-f16');
    assert.match(await page.getByTestId('selftest-gpu-ms').textContent(), /^\d+\.\d+ ms/);
    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, 'webgpu-390x844');
    assert.deepEqual(browser.errors, []);
    assert.equal(await page.getByTestId('fatal').isVisible(), false);
  } finally {
    await browser.close();
  }
});

test('without WebGPU: the page says so plainly and does not die', async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page } = browser;
    await page.goto(site.url);
    const message = page.getByTestId('no-webgpu');
    await message.waitFor({ timeout: 60_000 });
    await screenshot(page, 'no-webgpu-1280x800');
    assert.match(await message.textContent(), /No WebGPU/);
    assert.equal(await page.getByTestId('fatal').isVisible(), false);
    assert.deepEqual(browser.errors.filter((e) => e.startsWith('pageerror')), []);
  } finally {
    await browser.close();
  }
});
