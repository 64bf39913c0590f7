// archrace's widgets for any page: load this file as a module, then use the elements.
//
//   <script type="module" src="https://example.org/archrace/archrace.js"></script>
//   <archrace-race models="llama,mamba" context="256,4096" tokens="64"></archrace-race>
//   <archrace-memory-chart models="llama,mamba,rwkv7,jamba" max-context="262144"></archrace-memory-chart>
//   <archrace-kv-calculator preset="jamba-v0.1"></archrace-kv-calculator>
//   <archrace-layer-stack model="jamba"></archrace-layer-stack>
//
// Or from code: import { mount } from '.../archrace.js'; await mount(element, { widget: 'race', models: 'llama' }).
//
// The WebAssembly runtime and the bundled models are found beside this file, wherever the page is. Each
// widget draws inside its own shadow root; all widgets on a page share one GPU device.
const BASE = new URL('./', import.meta.url).href;
const WIDGETS = {
  'archrace-race': 'race',
  'archrace-memory-chart': 'memory-chart',
  'archrace-kv-calculator': 'kv-calculator',
  'archrace-layer-stack': 'layer-stack',
};

// The calculator and the layer stack need no GPU: they load the light runtime (archrace-calc, without
// wgpu and the kernels) unless the page has already loaded the full one.
const LIGHT = new Set(['kv-calculator', 'layer-stack']);
const runtimes = {};

/** Loads and starts a runtime (archrace-web or archrace-calc) once per page. */
function load(name) {
  runtimes[name] ??= import(new URL(`${name}.js`, BASE).href).then(async (m) => {
    await m.default({ module_or_path: new URL(`${name}_bg.wasm`, BASE).href });
    return m;
  });
  return runtimes[name];
}

/** Shows why a widget could not start, inside the widget. */
function showError(element, error) {
  const root = element.shadowRoot ?? element.attachShadow({ mode: 'open' });
  const p = document.createElement('p');
  p.setAttribute('role', 'alert');
  p.dataset.testid = 'widget-error';
  p.textContent = `archrace could not start here: ${error?.message ?? error}`;
  root.replaceChildren(p);
}

/** Mounts a widget into `element`. `options.widget` is race, memory-chart, kv-calculator or layer-stack. */
export async function mount(element, options) {
  try {
    const light = LIGHT.has(options.widget) && !runtimes['archrace-web'];
    const m = await load(light ? 'archrace-calc' : 'archrace-web');
    m.mount(element, { ...options, base: BASE });
  } catch (error) {
    showError(element, error);
    throw error;
  }
}

for (const [tag, widget] of Object.entries(WIDGETS)) {
  if (customElements.get(tag)) continue;
  customElements.define(
    tag,
    class extends HTMLElement {
      connectedCallback() {
        if (this.archraceMounted) return;
        this.archraceMounted = true;
        const options = { widget };
        for (const attribute of this.attributes) options[attribute.name] = attribute.value;
        mount(this, options).catch((error) => console.warn(`<${tag}>:`, error));
      }
    },
  );
}
