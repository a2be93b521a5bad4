// <petcut-uploader>: the storefront widget's first load (kept under 10 KB gzipped; a test measures it).
// It draws the upload control, sends the warm-up ping and loads the rest (petcut-app.js) on the first
// interaction. Attributes, CSS custom properties, labels and events: docs/widget.md.

const ACCEPT = 'image/jpeg,image/png,image/webp';
/** How long a "the service is warm" note skips the warm-up ping (the service's own recent-request rule is 600 s). */
const WARM_SKIP_MS = 10 * 60 * 1000;
const WARM_KEY = 'petcut:warm';
/** One flag per page view, shared by every copy of this module (a theme may load it under two URLs). */
const WARMED = Symbol.for('petcut.warmed');

const FIRST_LABELS = {
  title: 'Your pet\'s photo',
  choose: 'Upload a photo of your pet',
  hint: 'JPEG, PNG or WebP, drop it here or tap to choose',
  camera: 'Take a photo',
  loading: 'Getting ready…',
};

const CSS = `
:host{display:block;font:var(--petcut-font,inherit);color:var(--petcut-text,#1f2328);
--_a:var(--petcut-accent,#1d5f52);--_ac:var(--petcut-accent-contrast,#fff);--_bg:var(--petcut-bg,#fff);
--_b:var(--petcut-border,#6e7781);--_r:var(--petcut-radius,12px);--_f:var(--petcut-focus,#0b57d0);--_m:var(--petcut-muted,#57606a)}
*{box-sizing:border-box}
.root{display:grid;gap:.75rem;max-width:var(--petcut-max-width,36rem)}
.title{margin:0;font-weight:600}
button{font:inherit;min-height:44px;min-width:44px;border-radius:var(--_r);cursor:pointer}
button:focus-visible,[tabindex]:focus-visible{outline:3px solid var(--_f);outline-offset:2px}
.drop{display:grid;gap:.25rem;justify-items:center;width:100%;padding:1.5rem 1rem;background:var(--_bg);
color:inherit;border:2px dashed var(--_b);text-align:center}
.drop:hover,.drop.over{border-color:var(--_a);background:var(--petcut-hover-bg,#f3f7f6)}
.drop strong{color:var(--_a)}
.hint{color:var(--_m);font-size:.875em}
.camera{justify-self:start;padding:.5rem 1rem;border:1px solid var(--_a);background:var(--_bg);color:var(--_a)}
.file{position:absolute;width:1px;height:1px;opacity:0;overflow:hidden;pointer-events:none}
[hidden]{display:none!important}
.status{margin:0;min-height:1.25em;color:var(--_m)}
@media (prefers-reduced-motion:reduce){*{transition:none!important;animation:none!important}}`;

/** Reads the labels: English defaults, then the `labels` attribute (JSON), then a child <script type="application/json" slot="labels">. */
export function readLabels(el) {
  const parse = (text) => {
    try {
      const value = JSON.parse(text ?? '');
      return value && typeof value === 'object' ? value : {};
    } catch {
      return {};
    }
  };
  const script = el.querySelector(':scope > script[type="application/json"][slot="labels"]');
  return { ...parse(el.getAttribute('labels')), ...parse(script?.textContent) };
}

/** The service's base URL: `service-url`, else the App Proxy path, else this page's origin. */
export function serviceBase(el) {
  const url = el.getAttribute('service-url') || el.getAttribute('proxy-path') || location.origin;
  return new URL(url, location.href).href.replace(/\/+$/, '');
}

/** Whether the service said it was warm recently (a job completed, or /v1/widget/config said warm). */
export function noteWarm() {
  try {
    localStorage.setItem(WARM_KEY, String(Date.now()));
  } catch {
    // Storage refused (private mode): the next page view pings again, which is harmless.
  }
}

function warmRecently() {
  try {
    const at = Number(localStorage.getItem(WARM_KEY));
    return at > 0 && Date.now() - at < WARM_SKIP_MS;
  } catch {
    return false;
  }
}

/** The plan's warm-up: one no-cors POST /warmup per page view at most, skipped when the service was warm recently. */
export function warmUp(base) {
  if (globalThis[WARMED] || warmRecently()) return false;
  globalThis[WARMED] = true;
  fetch(`${base}/warmup`, { method: 'POST', mode: 'no-cors', keepalive: true, credentials: 'omit' }).catch(() => {});
  return true;
}

export class PetcutUploader extends HTMLElement {
  static get observedAttributes() {
    return ['lang'];
  }

  connectedCallback() {
    if (this.shadowRoot) return;
    const root = this.attachShadow({ mode: 'open' });
    this.strings = { ...FIRST_LABELS, ...readLabels(this) };
    const t = this.strings;
    root.innerHTML = `<style>${CSS}</style><div class="root" part="root">
<p class="title" part="title" id="title"></p>
<button class="drop" part="dropzone" type="button" aria-describedby="hint"><strong class="choose"></strong><span class="hint" id="hint"></span></button>
<button class="camera" part="camera" type="button" hidden></button>
<input class="file" type="file" tabindex="-1" aria-hidden="true" accept="${ACCEPT}">
<input class="file cam" type="file" tabindex="-1" aria-hidden="true" accept="${ACCEPT}" capture="environment">
<div class="app" part="app"></div>
<p class="status" part="status" role="status" aria-live="polite"></p></div>`;
    const $ = (selector) => root.querySelector(selector);
    $('.title').textContent = t.title;
    $('.choose').textContent = t.choose;
    $('.hint').textContent = t.hint;
    $('.camera').textContent = t.camera;
    this.setLang();
    const drop = $('.drop');
    const [file, cam] = root.querySelectorAll('input');
    this.input = file;
    // The camera button on touch devices: capture hands over a fresh JPEG (iOS converts HEIC for `accept` lists without it).
    $('.camera').hidden = !matchMedia('(pointer: coarse)').matches;
    drop.addEventListener('click', () => file.click());
    $('.camera').addEventListener('click', () => cam.click());
    for (const input of [file, cam]) {
      input.addEventListener('change', () => {
        const chosen = input.files?.[0];
        input.value = '';
        if (chosen) void this.handOver('file', chosen);
      });
    }
    drop.addEventListener('dragover', (event) => {
      event.preventDefault();
      drop.classList.add('over');
    });
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', (event) => {
      event.preventDefault();
      drop.classList.remove('over');
      const dropped = event.dataTransfer?.files?.[0];
      if (dropped) void this.handOver('file', dropped);
    });
    // First interaction: warm the service up and start loading the rest of the widget.
    const first = () => {
      warmUp(serviceBase(this));
      void this.app();
    };
    for (const type of ['pointerenter', 'focusin', 'touchstart', 'dragenter']) root.addEventListener(type, first, { once: true, passive: true });
    if (this.hasAttribute('pet-product')) warmUp(serviceBase(this));
    this.dispatchEvent(new CustomEvent('petcut:ready', { bubbles: true }));
  }

  attributeChangedCallback(name) {
    if (name === 'lang') this.setLang();
  }

  setLang() {
    const root = this.shadowRoot?.querySelector('.root');
    if (root) root.setAttribute('lang', this.getAttribute('lang') || document.documentElement.lang || 'en');
  }

  /** Loads petcut-app.js once (relative to this module, so it works from the service and from a Shopify CDN). */
  app() {
    this.loading ??= import(new URL('./petcut-app.js', import.meta.url).href).then((module) => module.mount(this));
    return this.loading;
  }

  async handOver(kind, value) {
    this.dispatchEvent(new CustomEvent('petcut:file', { bubbles: true, detail: { name: value.name, size: value.size, type: value.type } }));
    const status = this.shadowRoot.querySelector('.status');
    if (!this.controller) status.textContent = this.strings.loading;
    try {
      this.controller = await this.app();
      await this.controller.start(kind, value);
    } catch (error) {
      status.textContent = String(error?.message ?? error);
      this.dispatchEvent(new CustomEvent('petcut:error', { bubbles: true, detail: { code: 'load', message: status.textContent } }));
    }
  }

  /** The product form the line-item properties go to: the `form` attribute's id, the enclosing /cart/add form, or the page's. */
  productForm() {
    const named = this.getAttribute('form') && document.getElementById(this.getAttribute('form'));
    if (named) return named;
    return this.closest('form[action*="/cart/add"]') ?? document.querySelector('form[action*="/cart/add"]');
  }

  /**
   * Sets the hidden line-item properties (light DOM, inside the product form, so the theme's form submits them).
   * @param {Record<string, string | undefined>} values e.g. { image_url, effect, session, image_id, original_url, variant }
   */
  setProperties(values) {
    const form = this.productForm();
    if (!form) return;
    for (const [key, value] of Object.entries(values)) {
      const name = `properties[_petcut_${key}]`;
      let input = form.querySelector(`input[name="${name}"]`);
      if (value === undefined || value === '') {
        input?.remove();
        continue;
      }
      if (!input) {
        input = document.createElement('input');
        input.type = 'hidden';
        input.name = name;
        input.dataset.petcut = '';
        form.append(input);
      }
      input.value = value;
    }
  }
}

if (!customElements.get('petcut-uploader')) customElements.define('petcut-uploader', PetcutUploader);
