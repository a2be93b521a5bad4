// The widget after the first interaction: upload as a job with live progress, the cut-out on a checkerboard, print
// styles without re-uploading, tap to select the pet, the satisfaction rating, usage events. Loaded by
// petcut-uploader.js (import on interaction); docs/widget.md.
import { noteWarm, serviceBase } from './petcut-uploader.js';
import { createClient, followJob, PetcutRequestError } from './petcut-api.js';
import { acceptedFormat, heifBrand, prepare } from './petcut-image.js';
import { loadSession, rememberPet, saveSession } from './petcut-store.js';
import { CSS, fill, HTML, LABELS } from './petcut-view.js';
import { bindStyles, bindTap } from './petcut-controls.js';

/** A shopper waits at most this long for one cut-out before a friendly message (uploads on slow 4G included). */
const DEADLINE_MS = 120_000;
const DEFAULT_MAX_MB = 25;
/**
 * The on-screen cut-out: the service's preview size as WebP with alpha, a fraction of the PNG's bytes (what a phone
 * on a slow network waits for). The print is made from the stored original (_petcut_original_url) and the style.
 */
const PREVIEW = { size: 'preview', format: 'webp', quality: '85' };

export function mount(el) {
  const root = el.shadowRoot;
  const style = document.createElement('style');
  style.textContent = CSS;
  root.append(style);
  const app = root.querySelector('.app');
  app.innerHTML = HTML;
  const $ = (selector) => root.querySelector(selector);
  const t = { ...LABELS, ...el.strings };
  const base = serviceBase(el);
  const proxy = el.getAttribute('proxy-path') ? new URL(el.getAttribute('proxy-path'), location.href).href.replace(/\/+$/, '') : undefined;
  const status = $('.status');
  const say = (text) => { status.textContent = text; };
  const client = createClient({ base, proxy, onRetry: ({ waitMs }) => {
    say(fill(t.retrying, { seconds: Math.ceil(waitMs / 1000) }));
    beacon('retry');
  } });
  const saved = loadSession();
  const state = { sessionId: saved.sessionId, variant: saved.variant, pet: undefined, effect: undefined, photoUrl: undefined, lastFile: undefined };
  const emit = (name, detail) => el.dispatchEvent(new CustomEvent(`petcut:${name}`, { bubbles: true, detail }));
  for (const [key, text] of [['.tap', t.tapButton], ['.another', t.another], ['.rate legend', t.rateQuestion], ['[data-rating=good]', t.rateGood], ['[data-rating=bad]', t.rateBad], ['.retry', t.retry], ['.recent-title', t.recent]]) $(key).textContent = text;
  $('.styles-title').textContent = t.styles;

  function beacon(event, extra = {}) {
    const body = JSON.stringify({ event, sessionId: state.sessionId, variant: state.variant, effect: state.effect, ...extra });
    try {
      if (navigator.sendBeacon?.(`${base}/v1/events`, body)) return;
      fetch(`${base}/v1/events`, { method: 'POST', body, keepalive: true, headers: { 'Content-Type': 'text/plain' } }).catch(() => {});
    } catch {
      // usage counting never disturbs the shopper
    }
  }

  const allowed = (el.getAttribute('effects') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const configQuery = state.sessionId ? `?session_id=${encodeURIComponent(state.sessionId)}` : '';
  const config = client.optional(`${base}/v1/widget/config${configQuery}`).then((body) => {
    if (body?.warm) noteWarm();
    if (body?.experiment?.variant) state.variant = body.experiment.variant;
    return body ?? {};
  });
  const effects = client.optional(`${base}/v1/effects`).then((body) => (body?.effects ?? []).filter((e) => !allowed.length || allowed.includes(e.name)));

  async function chosenEffect() {
    const list = await effects;
    const defaults = (await config).defaults ?? {};
    const wanted = [el.getAttribute('default-effect'), defaults.effect, list[0]?.name].find((name) => name && (!allowed.length || allowed.includes(name)));
    return wanted ?? 'color';
  }

  /** Shows an image from the service (with the storefront token when it goes through the App Proxy). */
  async function showImage(img, url) {
    if (!proxy) {
      img.src = url;
    } else {
      const blob = await (await client.request(url, {}, { sessionId: state.sessionId })).blob();
      img.src = URL.createObjectURL(blob);
    }
    await img.decode().catch(() => {});
  }

  function fail(error) {
    const box = $('.error');
    const timedOut = error?.name === 'TimeoutError' || error?.name === 'AbortError';
    const text = timedOut ? t.timeout : error instanceof PetcutRequestError
      ? (error.code === 'network' ? t.offline : error.code === 'PETCUT_E_HEIC_UNSUPPORTED' ? t.heic : error.status >= 400 && error.status < 500 && error.message ? error.message : t.failed)
      : String(error?.message ?? t.failed);
    box.querySelector('p').textContent = text;
    // A photo the widget refused itself (HEIC, not a photo, too large) needs another photo, not another try.
    box.querySelector('.retry').textContent = state.lastFile ? t.retry : t.another;
    box.hidden = false;
    $('.progress').hidden = true;
    root.querySelector('.root').classList.remove('busy');
    say('');
    beacon('error', { code: error?.code ?? (timedOut ? 'timeout' : 'client') });
    emit('error', { code: error?.code ?? (timedOut ? 'timeout' : 'client'), message: text });
  }

  function progress(event) {
    const bar = $('.bar');
    const percent = Math.max(0, Math.min(100, Math.round(event.percent ?? 0)));
    bar.setAttribute('aria-valuenow', String(percent));
    bar.firstElementChild.style.width = `${percent}%`;
    const stage = event.stage === 'queued' && event.position ? fill(t.queuedAt, event) : t[event.stage] ?? t.segmentation;
    say(event.etaSeconds > 0 ? `${stage} ${fill(t.eta, { seconds: Math.ceil(event.etaSeconds) })}` : stage);
    emit('progress', { stage: event.stage, percent, etaSeconds: event.etaSeconds });
  }

  function setPet(pet, { cache } = {}) {
    state.pet = pet;
    state.effect = pet.effect;
    el.setProperties({ image_url: pet.url, effect: pet.effect, session: state.sessionId, image_id: pet.imageId, original_url: pet.originalUrl, variant: state.variant });
    rememberPet({ ...pet, sessionId: state.sessionId });
    styles.check(pet.effect);
    emit('cutout', { ...pet, sessionId: state.sessionId, cache });
  }

  async function showPet(pet, { cache, announce = t.done } = {}) {
    const cut = $('.cut');
    cut.alt = t.cutoutAlt;
    await showImage(cut, pet.url);
    cut.hidden = false;
    tap.stop();
    $('.work').hidden = false;
    $('.progress').hidden = true;
    $('.actions').hidden = false;
    $('.rate').hidden = false;
    for (const b of root.querySelectorAll('.rate button')) b.disabled = false;
    $('.styles').hidden = false;
    $('.styles-title').hidden = false;
    root.querySelector('.root').classList.remove('busy');
    setPet(pet, { cache });
    say(announce);
    // No pet found: the saliency cut-out stays on screen with a friendly prompt, and "Tap your pet" leads.
    const noPet = pet.petFound === false;
    $('.prompt').textContent = noPet ? t.noPet : '';
    $('.prompt').hidden = !noPet;
    $('.tap').classList.toggle('primary', noPet);
    if (noPet) beacon('no_pet_prompt');
  }

  /** Upload as a job, follow it, show the cut-out. */
  async function upload(file) {
    const started = performance.now();
    $('.error').hidden = true;
    state.lastFile = undefined;
    if (await heifBrand(file)) throw new Error(t.heic);
    if (!(await acceptedFormat(file))) throw new Error(t.unsupported);
    const maxMb = Number(el.getAttribute('max-upload-mb')) || DEFAULT_MAX_MB;
    if (file.size > maxMb * 1024 * 1024) throw new Error(fill(t.tooLarge, { mb: maxMb }));
    state.lastFile = file;
    root.querySelector('.root').classList.add('busy');
    $('.work').hidden = false;
    $('.progress').hidden = false;
    $('.cut').hidden = true;
    $('.prompt').hidden = true;
    $('.actions').hidden = true;
    $('.rate').hidden = true;
    say(t.preparing);
    const { blob } = await prepare(file);
    if (state.photoUrl) URL.revokeObjectURL(state.photoUrl);
    state.photoUrl = URL.createObjectURL(blob);
    const effect = await chosenEffect();
    const signal = AbortSignal.timeout(DEADLINE_MS);
    // Through the App Proxy the token names the session: uploads go to that one.
    state.sessionId = await client.tokenSession(state.sessionId);
    const query = new URLSearchParams({ ...PREVIEW, effects: effect });
    const form = new FormData();
    form.append('image', blob, blob.type === 'image/jpeg' ? 'pet.jpg' : file.name || 'pet');
    say(t.uploading);
    beacon('upload', { effect });
    const job = await client.json(`${base}/v1/jobs?${query}`, { method: 'POST', body: form, headers: { Accept: 'application/json', ...(state.sessionId ? { 'X-Session-ID': state.sessionId } : {}) } }, { sessionId: state.sessionId, signal });
    state.sessionId = job.sessionId;
    saveSession(state.sessionId, state.variant);
    const view = await followJob(client, job, progress, { signal, sessionId: state.sessionId, onPoll: () => emit('poll', { jobId: job.id }) });
    const done = view.files?.[0];
    const result = done?.results?.[0];
    if (view.status !== 'succeeded' || !result) throw new PetcutRequestError(done?.error?.message ?? t.failed, { code: done?.error?.code ?? 'failed', status: 422 });
    noteWarm();
    const originalId = done.originalUrl?.split('/').pop();
    await showPet({ url: result.url, imageId: result.imageId, effect: result.effect, originalUrl: done.originalUrl, originalId, petFound: done.petFound, photoUrl: state.photoUrl }, { cache: done.cache });
    beacon('cutout_shown', { ms: Math.round(performance.now() - started) });
  }

  /** Another style or a tapped point on the stored original: the renders route, never a new upload. */
  async function render({ effect = state.effect, point } = {}) {
    const pet = state.pet;
    if (!pet?.originalId) return;
    $('.error').hidden = true;
    root.querySelector('.root').classList.add('busy');
    say(point ? t.segmentation : t.effect);
    const query = new URLSearchParams({ ...PREVIEW, effects: effect });
    if (point) query.set('point', `${point.x.toFixed(2)},${point.y.toFixed(2)}`);
    const url = `${base}/v1/sessions/${encodeURIComponent(state.sessionId)}/images/${encodeURIComponent(pet.originalId)}/renders?${query}`;
    const answer = await client.request(url, { method: 'POST', headers: { Accept: 'application/json' } }, { sessionId: state.sessionId, signal: AbortSignal.timeout(DEADLINE_MS) });
    const body = await answer.json();
    const result = body.results?.[0];
    if (!result) throw new PetcutRequestError(t.failed, { code: 'failed', status: 422 });
    const petFound = body.petFound ?? (answer.headers.get('X-Petcut-Pet-Found') === 'false' ? false : undefined);
    const label = (await effects).find((e) => e.name === result.effect)?.label ?? result.effect;
    await showPet({ ...pet, url: result.url, imageId: result.imageId, effect: result.effect, petFound: point ? (petFound === false ? undefined : petFound) : petFound },
      { cache: body.cache ?? answer.headers.get('X-Cache'), announce: point ? t.done : fill(t.styleDone, { style: label }) });
  }

  const guard = (fn) => async (...args) => {
    try {
      await fn(...args);
    } catch (error) {
      fail(error);
    }
  };

  const styles = bindStyles($('.styles'), effects, {
    preview: (img, url) => showImage(img, url).catch(() => {}),
    select: guard(async (name) => {
      beacon('style_selected', { effect: name });
      await render({ effect: name });
      emit('style', { effect: name });
    }),
  });
  const tap = bindTap({ view: $('.view'), photo: $('.photo'), marker: $('.marker'), prompt: $('.prompt'), button: $('.tap'), t,
    photoUrl: () => state.pet?.photoUrl ?? state.photoUrl ?? state.pet?.originalUrl,
    show: (img, url) => (url.startsWith('blob:') ? (img.src = url, img.decode().catch(() => {})) : showImage(img, url)),
    hideCut: (hidden) => { $('.cut').hidden = hidden; },
    chosen: guard(async (point) => {
      beacon('point_selected');
      emit('point', point);
      await render({ point });
    }) });

  $('.another').addEventListener('click', () => el.input.click());
  $('.retry').addEventListener('click', guard(async () => {
    $('.error').hidden = true;
    if (state.lastFile) await upload(state.lastFile);
    else el.input.click();
  }));
  for (const button of root.querySelectorAll('.rate button')) {
    button.addEventListener('click', () => {
      const rating = button.dataset.rating;
      for (const b of root.querySelectorAll('.rate button')) b.disabled = true;
      say(t.rateThanks);
      beacon('rating', { rating });
      emit('rating', { rating });
      if (state.sessionId) {
        client.request(`${base}/v1/sessions/${encodeURIComponent(state.sessionId)}/feedback`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ rating, imageId: state.pet?.imageId, ...(state.variant ? { variant: state.variant } : {}) }) }, { sessionId: state.sessionId, retries: 1 }).catch(() => {});
      }
    });
  }
  // Conversion for the A/B report: the product form sent with a cut-out (capture: before a theme's own handler).
  el.productForm()?.addEventListener('submit', () => {
    if (state.pet) beacon('add_to_cart');
  }, { capture: true });
  showRecent(saved.pets);

  function showRecent(pets) {
    const list = $('.recent .list');
    const mine = pets.filter((pet) => pet.sessionId === state.sessionId);
    $('.recent').hidden = mine.length === 0;
    mine.forEach((pet, i) => {
      const button = document.createElement('button');
      button.type = 'button';
      const img = document.createElement('img');
      img.alt = fill(t.recentAlt, { n: i + 1 });
      img.loading = 'lazy';
      button.append(img);
      void showImage(img, pet.url).catch(() => button.remove());
      button.addEventListener('click', guard(() => showPet({ ...pet, photoUrl: undefined })));
      list.append(button);
    });
  }

  return { start: guard(async (kind, value) => kind === 'file' && upload(value)) };
}
