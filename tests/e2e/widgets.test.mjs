// The widgets on real pages, in Debian's headless Chromium: the showcase (every widget, the race run, the
// host's URL untouched), two races sharing one device and taking turns, a widget in an iframe from
// another origin and one loaded by script from another origin, and the widgets without WebGPU.
// Screenshots of the showcase go to artifacts/ at 1280x800 and 390x844.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serveDist, launch, screenshot } from './harness.mjs';

const SLOW = 300_000;
const MODELS = /\/public\/models\/.*\.gguf$/;

let site;
before(async () => {
  site = await serveDist({
    pages: {
      '/blank.html': '<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body></body></html>',
      '/stop.html': `<!DOCTYPE html><html><head><link rel="icon" href="data:,"><script type="module" src="archrace.js"></script></head><body>
        <archrace-race models="llama" context="1024,4096" tokens="200"></archrace-race></body></html>`,
      '/two-races.html': `<!DOCTYPE html><html><head><link rel="icon" href="data:,"><script type="module" src="archrace.js"></script></head><body>
        <archrace-race id="a" models="llama" context="" tokens="6"></archrace-race>
        <archrace-race id="b" models="mamba" context="" tokens="6"></archrace-race></body></html>`,
    },
  });
});
after(async () => {
  await site?.close();
});

/** Whole-file downloads of models so far (range requests for headers are not downloads). */
const modelDownloads = () => [...site.hits].filter(([p]) => MODELS.test(p)).reduce((n, [, c]) => n + c, 0);

/** Waits until the widget element `selector` (shadow roots pierced) has `data-state` `state`. */
async function waitForState(page, selector, state, timeout) {
  await page.locator(`${selector}[data-state=${state}]`).waitFor({ timeout });
}

/** Counts GPUAdapter.requestDevice calls in `window.__archraceDevices`. */
const COUNT_DEVICES = () => {
  window.__archraceDevices = 0;
  if (typeof GPUAdapter !== 'undefined') {
    const request = GPUAdapter.prototype.requestDevice;
    GPUAdapter.prototype.requestDevice = function (...args) {
      window.__archraceDevices += 1;
      return request.apply(this, args);
    };
  }
};

test('the showcase renders every widget, runs its race, and leaves the URL alone', { timeout: 2 * SLOW }, async () => {
  const { page, errors, close } = await launch({ webgpu: true });
  try {
    const url = `${site.url}showcase.html#race`;
    await page.goto(url);
    // The calculator's Table 1: four rows, each equal to the paper's.
    const rows = page.locator('archrace-kv-calculator [data-testid=table1-row]');
    await rows.first().waitFor({ timeout: 60_000 });
    assert.equal(await rows.count(), 4);
    assert.deepEqual(await rows.evaluateAll((r) => r.map((x) => [x.dataset.model, x.dataset.agrees])), [
      ['llama-2-7b', 'true'],
      ['mistral-7b', 'true'],
      ['mixtral-8x7b', 'true'],
      ['jamba-v0.1', 'true'],
    ]);
    assert.match(await page.locator('archrace-kv-calculator [data-testid=calc-kv]').textContent(), /^128 GiB$/);
    // The layer stack and the memory chart, from the models' headers (range requests, no downloads).
    const summary = page.locator('archrace-layer-stack [data-testid=stack-summary]');
    await summary.waitFor({ timeout: 60_000 });
    assert.match(await summary.textContent(), /8 layers: 1 attention, 7 Mamba, 4 with a mixture of experts \(top-2 of 16\)/);
    const memoryRows = page.locator('archrace-memory-chart [data-testid=memory-row]');
    await page.waitForFunction(() => true);
    await memoryRows.nth(3).waitFor({ timeout: 60_000 });
    assert.equal(await page.locator('archrace-memory-chart [data-testid=chart-point]').count() > 20, true);
    assert.ok(site.ranges.size > 0, 'headers were read with range requests');
    assert.equal(modelDownloads(), 0, 'no model is downloaded before Run');
    // The race starts on click.
    const race = page.locator('archrace-race [data-testid=race-widget]');
    assert.equal(await race.getAttribute('data-state'), 'idle');
    await page.locator('archrace-race [data-testid=run]').click();
    await waitForState(page, 'archrace-race [data-testid=race-widget]', 'done', 2 * SLOW - 60_000);
    const texts = await page.locator('archrace-race [data-testid=lane-text]').allTextContents();
    assert.equal(texts.length, 4);
    assert.ok(texts.every((t) => t.length > 0), JSON.stringify(texts));
    assert.equal(await page.locator('archrace-race [data-testid=lane-error]').count(), 0);
    assert.ok((await page.locator('archrace-race [data-testid=chart-latency] [data-testid=chart-point]').count()) >= 8);
    assert.equal(page.url(), url, 'the host page URL is unchanged');
    assert.deepEqual(errors, []);
    await screenshot(page, 'showcase-desktop');
    await page.setViewportSize({ width: 390, height: 844 });
    // Nothing wider than a phone: wide tables scroll inside their widget.
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), 390);
    await screenshot(page, 'showcase-phone');
  } finally {
    await close();
  }
});

test('two races on one page share one device and run one after the other', { timeout: SLOW }, async () => {
  const { page, errors, close } = await launch({ webgpu: true });
  try {
    await page.addInitScript(COUNT_DEVICES);
    await page.goto(`${site.url}two-races.html`);
    const state = () =>
      page.evaluate(() =>
        ['a', 'b'].map((id) => document.getElementById(id).shadowRoot?.querySelector('[data-testid=race-widget]')?.dataset.state),
      );
    await page.locator('#a [data-testid=run]').click();
    await page.locator('#b [data-testid=run]').click();
    const seen = [];
    for (let i = 0; i < 1200; i++) {
      const s = await state();
      seen.push(s.join('/'));
      const active = s.filter((x) => x === 'loading' || x === 'running').length;
      assert.ok(active <= 1, `both races on the device at once: ${s}`);
      if (s.every((x) => x === 'done')) break;
      await page.waitForTimeout(200);
    }
    assert.deepEqual(await state(), ['done', 'done'], seen.slice(-5).join(' '));
    assert.ok(seen.some((s) => s.includes('waiting')), `one race waited for the other: ${[...new Set(seen)]}`);
    assert.equal(await page.evaluate(() => window.__archraceDevices), 1, 'one device for the page');
    const texts = await page.locator('[data-testid=lane-text]').allTextContents();
    assert.ok(texts.length === 2 && texts.every((t) => t.length > 0), JSON.stringify(texts));
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});

test('a widget works in an iframe from another origin, and by script from another origin', { timeout: SLOW }, async () => {
  const origin = site.url.replace(/\/$/, '');
  const host = await serveDist({
    root: '/nonexistent',
    pages: {
      '/frame.html': `<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body><h1>host</h1>
        <iframe id="f" src="${origin}/embed.html?widget=layer-stack&model=jamba" width="800" height="400"></iframe></body></html>`,
      '/docs/page.html': `<!DOCTYPE html><html><head><link rel="icon" href="data:,"><script type="module" src="${origin}/archrace.js"></script></head><body>
        <archrace-layer-stack model="mamba"></archrace-layer-stack>
        <archrace-kv-calculator preset="bundled:llama"></archrace-kv-calculator></body></html>`,
    },
  });
  const { page, errors, close } = await launch({ webgpu: true });
  try {
    await page.goto(`${host.url}frame.html`);
    const frame = page.frameLocator('#f');
    await frame.locator('[data-testid=stack-summary]').waitFor({ timeout: 60_000 });
    assert.match(await frame.locator('[data-testid=stack-summary]').textContent(), /1 attention, 7 Mamba/);
    await page.goto(`${host.url}docs/page.html`);
    const summary = page.locator('archrace-layer-stack [data-testid=stack-summary]');
    await summary.waitFor({ timeout: 60_000 });
    assert.match(await summary.textContent(), /Mamba/);
    // The calculator reads the bundled llama's header from the script's site.
    const params = page.locator('archrace-kv-calculator [data-testid=calc-params]');
    await params.waitFor({ timeout: 60_000 });
    assert.match(await params.textContent(), /M$/);
    const asked = [...host.hits.keys(), ...host.ranges.keys()];
    assert.deepEqual(asked.filter((p) => /\.(gguf|wasm|js|txt)$/.test(p)), [], `the host served only its pages: ${asked}`);
    assert.deepEqual(errors, []);
  } finally {
    await close();
    await host.close();
  }
});

test('without WebGPU the race says so inside itself; the calculator and the chart still work', { timeout: SLOW }, async () => {
  const { page, errors, close } = await launch({ webgpu: false });
  try {
    await page.goto(`${site.url}showcase.html`);
    await page.locator('archrace-kv-calculator [data-testid=table1-row]').first().waitFor({ timeout: 60_000 });
    await page.locator('archrace-memory-chart [data-testid=memory-row]').nth(3).waitFor({ timeout: 60_000 });
    await page.locator('archrace-race [data-testid=run]').click();
    await waitForState(page, 'archrace-race [data-testid=race-widget]', 'failed', 60_000);
    assert.match(await page.locator('archrace-race [data-testid=race-status]').textContent(), /No WebGPU here/);
    assert.equal(await page.locator('body > article > h1').textContent(), 'What the architectures trade');
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});

test("the playground's Embed gives snippets that work on another page", { timeout: SLOW }, async () => {
  const { page, errors, close } = await launch({ webgpu: true });
  try {
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: site.url.replace(/\/$/, '') });
    await page.goto(`${site.url}?lanes=llama,mamba&n=12&prompt=Now%20is%20the%20winter`);
    await page.locator('[data-testid=embed]').click();
    const element = await page.locator('[data-testid=embed-element]').textContent();
    assert.match(element, /<script type="module" src="http:\/\/127\.0\.0\.1:\d+\/archrace\.js"><\/script>/);
    assert.match(element, /<archrace-race models="llama,mamba" context="256,1024" tokens="12" prompt="Now is the winter">/);
    await page.locator('[data-testid=embed-element-copy]').click();
    await page.locator('[data-testid=embed-element-copy]', { hasText: 'Copied' }).waitFor({ timeout: 10_000 });
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), element);
    const iframe = await page.locator('[data-testid=embed-iframe]').textContent();
    const src = /src="([^"]+)"/.exec(iframe)[1].replaceAll('&amp;', '&');
    // Both snippets on a page of their own.
    await page.goto(`${site.url}blank.html`);
    await page.setContent(`<link rel="icon" href="data:,">${element}<iframe id="f" src="${src}" width="900" height="600"></iframe>`);
    const status = page.locator('archrace-race [data-testid=race-status]');
    await status.waitFor({ timeout: 60_000 });
    assert.match(await status.textContent(), /Generates 12 tokens per lane, then fills the context to 256, 1K/);
    assert.equal(await page.locator('archrace-race [data-testid=lane]').count(), 2);
    const framed = page.frameLocator('#f').locator('[data-testid=race-status]');
    await framed.waitFor({ timeout: 60_000 });
    assert.match(await framed.textContent(), /Generates 12 tokens per lane/);
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});

test('the calculator takes a pasted config.json and a GGUF URL from another origin', { timeout: SLOW }, async () => {
  const origin = site.url.replace(/\/$/, '');
  const host = await serveDist({
    root: '/nonexistent',
    pages: {
      '/calc.html': `<!DOCTYPE html><html><head><link rel="icon" href="data:,"><script type="module" src="${origin}/archrace.js"></script></head><body>
        <archrace-kv-calculator></archrace-kv-calculator></body></html>`,
    },
  });
  const { page, errors, close } = await launch({ webgpu: false });
  try {
    const runtime = (name) => site.hits.get(`/${name}_bg.wasm`) ?? 0;
    const [full, light] = [runtime('archrace-web'), runtime('archrace-calc')];
    await page.goto(`${host.url}calc.html`);
    const calc = (id) => page.locator(`archrace-kv-calculator [data-testid=${id}]`);
    await calc('calc-kv').waitFor({ timeout: 60_000 });
    assert.deepEqual([runtime('archrace-web') - full, runtime('archrace-calc') - light], [0, 1], 'a calculator alone loads the light runtime');
    assert.equal(await calc('calc-kv').textContent(), '4.00 GiB', 'Jamba v0.1 at 256K in f16 first');
    await calc('calc-kv-type').selectOption('q8_0');
    assert.match(await calc('calc-kv').textContent(), /^2\.1[23] GiB$/, '34 bytes per 32 values: 2.125 GiB');
    // A pasted Mamba config: no KV cache, a fixed state.
    await calc('calc-model').selectOption('config');
    await calc('calc-config').fill(
      '{"model_type": "mamba", "hidden_size": 768, "num_hidden_layers": 24, "vocab_size": 50280, "state_size": 16, "conv_kernel": 4, "expand": 2, "intermediate_size": 1536, "tie_word_embeddings": true}',
    );
    await calc('calc-config').blur();
    await page.locator('archrace-kv-calculator [data-testid=calc-kv]', { hasText: '0 B' }).waitFor({ timeout: 10_000 });
    assert.match(await calc('calc-params').textContent(), /^129\.14M$/);
    assert.match(await calc('calc-state').textContent(), /^2\.67 MiB/);
    // A GGUF by URL on the widget's site: its header only, by range requests from another origin.
    const LLAMA = '/public/models/llama-q8_0.gguf';
    const [wholeBefore, rangesBefore] = [site.hits.get(LLAMA) ?? 0, site.ranges.get(LLAMA) ?? 0];
    await calc('calc-model').selectOption('url');
    await calc('calc-url').fill(`${origin}${LLAMA}`);
    await calc('calc-url').blur();
    await page.locator('archrace-kv-calculator [data-testid=calc-figures] caption', { hasText: 'shakespeare' }).waitFor({ timeout: 30_000 });
    assert.equal(site.hits.get(LLAMA) ?? 0, wholeBefore, 'never downloaded whole');
    assert.ok((site.ranges.get(LLAMA) ?? 0) > rangesBefore, 'read by range requests');
    // A URL that is not there: said inside the widget.
    await calc('calc-url').fill(`${origin}/public/models/nope.gguf`);
    await calc('calc-url').blur();
    await calc('calc-error').waitFor({ timeout: 30_000 });
    assert.match(await calc('calc-error').textContent(), /HTTP 404/);
    assert.deepEqual(
      errors.filter((e) => !e.includes('404')),
      [],
    );
  } finally {
    await close();
    await host.close();
  }
});

test('the memory chart adds measured points on Measure', { timeout: SLOW }, async () => {
  const { page, errors, close } = await launch({ webgpu: true });
  try {
    await page.goto(`${site.url}blank.html`);
    await page.setContent(
      `<link rel="icon" href="data:,"><script type="module" src="archrace.js"></script>
       <archrace-memory-chart models="llama,mamba" max-context="1024"></archrace-memory-chart>`,
    );
    const chart = page.locator('archrace-memory-chart [data-testid=memory-chart]');
    await page.locator('archrace-memory-chart [data-testid=memory-row]').nth(1).waitFor({ timeout: 60_000 });
    const calculated = await page.locator('archrace-memory-chart [data-testid=chart-point]').count();
    assert.equal(calculated, 2 * 5, 'two models at 64..1024');
    await page.locator('archrace-memory-chart [data-testid=measure]').click();
    await waitForState(page, 'archrace-memory-chart [data-testid=memory-chart]', 'done', SLOW - 30_000);
    const legend = await page.locator('archrace-memory-chart .legend li').allTextContents();
    assert.equal(legend.filter((l) => l.endsWith('measured')).length, 2, legend.join(' | '));
    // Generation's point and one per context step (256, 1K) for each model.
    assert.ok((await page.locator('archrace-memory-chart [data-testid=chart-point]').count()) >= calculated + 2 * 3);
    assert.equal(await chart.getAttribute('data-state'), 'done');
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});

test('a running race stops on Stop and runs again', { timeout: SLOW }, async () => {
  const { page, errors, close } = await launch({ webgpu: true });
  try {
    await page.goto(`${site.url}stop.html`);
    const state = () => page.locator('archrace-race [data-testid=race-widget]').getAttribute('data-state');
    await page.locator('archrace-race [data-testid=run]').click();
    await page.locator('archrace-race [data-testid=lane-text]').filter({ hasText: /\S/ }).waitFor({ timeout: 120_000 });
    assert.equal(await state(), 'running');
    await page.locator('archrace-race [data-testid=stop]').click();
    await waitForState(page, 'archrace-race [data-testid=race-widget]', 'stopped', 60_000);
    // Stopped while generating: no context step was filled, so no chart point past the generation's.
    const contexts = await page
      .locator('archrace-race [data-testid=chart-latency] [data-testid=chart-point] title')
      .allTextContents();
    assert.ok(contexts.every((t) => !/ (1024|4096) tokens/.test(t)), contexts.join(' | '));
    assert.equal(await page.locator('archrace-race [data-testid=run]').isEnabled(), true);
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});
