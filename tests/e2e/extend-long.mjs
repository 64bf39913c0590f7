// By hand, not in CI: about 90 minutes per recurrent lane on SwiftShader, which prefills ~60 tokens/s.
// The built page extends the context of the lanes in LANES (default: mamba) step by step, 256 up to 256K
// tokens, on WebGPU in headless Chromium, and prints each step's prefill rate, decode time and memory as
// the charts show them. Stops early after MAX_MINUTES (default 120), saying where the running step was.
//
//   trunk build --release && node tests/e2e/extend-long.mjs
//   LANES=mamba,rwkv7 MAX_MINUTES=200 node tests/e2e/extend-long.mjs
import { serveDist, launch, screenshot } from './harness.mjs';

const lanes = process.env.LANES ?? 'mamba';
const deadline = Date.now() + Number(process.env.MAX_MINUTES ?? 120) * 60_000;
const started = Date.now();
const minutes = () => ((Date.now() - started) / 60_000).toFixed(1);
const say = (line) => console.log(`[${minutes()} min] ${line}`);

const titles = (page, chart) =>
  page.$$eval(`[data-testid=${chart}] [data-testid=chart-point] title`, (all) => all.map((t) => t.textContent));

const site = await serveDist();
const browser = await launch({ webgpu: true });
const { page } = browser;
const n = lanes.split(',').length;
try {
  await page.goto(`${site.url}?lanes=${lanes}&n=8`);
  await page.waitForFunction(
    (n) => document.querySelectorAll('[data-testid=chart-latency] [data-testid=chart-point]').length >= n,
    n,
    { timeout: 600_000, polling: 1000 },
  );
  say(`race ran: ${(await titles(page, 'chart-latency')).join('; ')}`);
  for (let step = 1; ; step++) {
    const button = page.getByTestId('extend-context');
    const label = (await button.textContent()).trim();
    if (!/^Extend context to/.test(label) || (await button.isDisabled())) {
      say(`no further step ("${label}")`);
      break;
    }
    say(`click: ${label}`);
    await button.click();
    // One prefill point per lane per extension.
    const want = step * n;
    while ((await titles(page, 'chart-prefill')).length < want) {
      if (Date.now() > deadline) {
        const progress = await page.$$eval('[data-testid=lane-progress] span', (all) => all.map((s) => s.textContent));
        say(`stopped at MAX_MINUTES during "${label}": ${progress.join('; ') || 'no progress shown'}`);
        throw new Error('out of time');
      }
      const errors = await page.$$eval('[data-testid=lane-error]', (all) => all.map((e) => e.textContent));
      if (errors.some((e) => e.trim())) throw new Error(`lane error: ${errors.join('; ')}`);
      await page.waitForTimeout(10_000);
    }
    const last = (chart) => titles(page, chart).then((t) => t.slice(-n).join('; '));
    say(`prefill ${await last('chart-prefill')}`);
    say(`decode  ${await last('chart-latency')}`);
    say(`memory  ${await last('chart-memory')}`);
  }
} catch (e) {
  say(`ended: ${e.message}`);
  process.exitCode = 1;
} finally {
  await screenshot(page, 'extend-long');
  if (browser.errors.length) say(`page errors: ${browser.errors.join('; ')}`);
  await browser.close();
  await site.close();
}
