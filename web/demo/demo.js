/**
 * petcut's demo page: a photo goes up as a job (POST /v1/jobs), its progress
 * comes over the job's WebSocket (polling GET /v1/jobs/{id} when the socket
 * fails), the cut-out is shown on a checkerboard; print styles and downloads
 * re-render the stored photo (POST /v1/sessions/{s}/images/{id}/renders: no
 * new upload, and no model run for a style switch). The curl command shows
 * the one-request equivalent of the last thing done.
 */

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

const PREVIEW = { size: 'preview' };
const MAX_TRIES = 3;
const JOB_TIMEOUT_MS = 180_000;

const state = {
  /** @type {string | undefined} */ sessionId: undefined,
  /** @type {string | undefined} */ originalId: undefined,
  fileName: 'pet.jpg',
  effect: 'color',
  /** The options of the last thing done (what the curl command repeats). */
  last: /** @type {Record<string, string>} */ ({ effects: 'color', ...PREVIEW }),
  busy: false,
  /** A style was picked while the page was busy: rendered when it is free. */
  pending: false,
};

/** Shows a progress line (stage text, percent) for screen readers and eyes. */
function showStatus(text, percent) {
  $('status-text').textContent = text;
  const bar = /** @type {HTMLProgressElement} */ ($('progress'));
  if (percent === undefined) {
    bar.hidden = true;
  } else {
    bar.hidden = false;
    bar.value = Math.max(0, Math.min(100, percent));
  }
}

function showError(text) {
  const box = $('error');
  box.textContent = text;
  box.hidden = !text;
}

/**
 * Marks the page busy. Controls are never `disabled` (a disabled control
 * loses the keyboard focus): they say aria-disabled/aria-busy and their
 * handlers wait, or remember the latest style asked for.
 */
function setBusy(busy) {
  state.busy = busy;
  $('drop').classList.toggle('busy', busy);
  $('styles').setAttribute('aria-busy', String(busy));
  for (const id of ['download-png', 'download-webp']) $(id).setAttribute('aria-disabled', String(busy));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The API's error message from a failed response, in words a person can act on. */
async function messageOf(response) {
  try {
    const body = await response.json();
    if (body?.error?.message) return body.error.message;
  } catch {
    // not JSON
  }
  return `The service answered ${response.status}.`;
}

/** fetch with retries on 503 and 429 (after their Retry-After, at most 10 s) and on network errors. */
async function call(url, init) {
  let lastError;
  for (let attempt = 1; attempt <= MAX_TRIES; attempt++) {
    try {
      const response = await fetch(url, init);
      if ((response.status !== 503 && response.status !== 429) || attempt === MAX_TRIES) return response;
      const wait = Math.min(10, Number(response.headers.get('Retry-After')) || 2);
      showStatus(response.status === 429 ? `Many requests at once; trying again in ${wait} s…` : `The service is busy; trying again in ${wait} s…`);
      await sleep(wait * 1000);
    } catch (error) {
      lastError = error;
      if (attempt === MAX_TRIES) break;
      await sleep(1000 * attempt);
    }
  }
  throw new Error(`Could not reach the service (${lastError?.message ?? 'network error'}). Check your connection and try again.`);
}

const sessionHeaders = () => (state.sessionId ? { 'X-Session-ID': state.sessionId } : {});

/** The query of a cut-out request. */
const queryOf = (options) => new URLSearchParams(options).toString();

/** Follows a job until it ends: the WebSocket first, polling when the socket fails or closes early. */
async function followJob(job) {
  const finished = (j) => j.status === 'succeeded' || j.status === 'failed';
  if (finished(job)) return job;
  const viaSocket = await new Promise((resolve) => {
    let socket;
    try {
      const path = new URL(job.eventsUrl, location.href).pathname;
      socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`);
    } catch {
      resolve(undefined);
      return;
    }
    let done;
    socket.addEventListener('message', (message) => {
      let event;
      try {
        event = JSON.parse(String(message.data));
      } catch {
        return;
      }
      if (event.type === 'stage') {
        const eta = event.etaSeconds > 0 ? ` (about ${Math.ceil(event.etaSeconds)} s left)` : '';
        showStatus(`${event.message ?? event.stage}${eta}`, event.percent);
      } else if (event.type === 'complete') {
        done = event.job;
      } else if (event.type === 'state' && finished(event.job)) {
        done = event.job;
      }
    });
    socket.addEventListener('close', () => resolve(done));
    socket.addEventListener('error', () => resolve(done));
  });
  if (viaSocket) return viaSocket;
  // Polling fallback (a proxy without WebSockets, a dropped connection).
  const statusPath = new URL(job.statusUrl, location.href).pathname;
  const deadline = Date.now() + JOB_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const response = await call(statusPath, { headers: { Accept: 'application/json' } });
    if (!response.ok) throw new Error(await messageOf(response));
    const polled = await response.json();
    if (finished(polled)) return polled;
    const p = polled.progress;
    if (p?.type === 'stage') showStatus(p.message ?? p.stage, p.percent);
    await sleep(1000);
  }
  throw new Error('This is taking too long. Please try again in a minute.');
}

/** Shows a result (a session image URL) on the checkerboard; resolves when it is loaded. */
function showCutout(url, caption, effect) {
  const img = /** @type {HTMLImageElement} */ ($('cutout'));
  img.classList.add('loading');
  return new Promise((resolve) => {
    const loaded = () => {
      img.classList.remove('loading');
      img.dataset.effect = effect;
      resolve(undefined);
    };
    img.addEventListener('load', loaded, { once: true });
    img.addEventListener('error', loaded, { once: true });
    img.src = url;
    $('caption').textContent = caption;
    $('result').hidden = false;
  });
}

function captionOf(result, petFound) {
  const found = petFound === false ? ' No pet was found: this is the most salient object in the photo.' : '';
  return `${labelOf(result.effect)} · ${result.width}×${result.height} px.${found}`;
}

function labelOf(effect) {
  const input = /** @type {HTMLInputElement | null} */ (document.querySelector(`input[name="effect"][value="${CSS.escape(effect)}"]`));
  return input?.dataset.label ?? effect;
}

/** The curl command that does in one request what was just done (the photo as pet.jpg or its own safe name). */
function updateCurl() {
  const url = `${location.origin}/v1/cutouts?${queryOf(state.last)}`;
  const extension = state.last.format ?? 'png';
  const command = `curl -F image=@${state.fileName} '${url}' -o pet-${state.last.effects}.${extension}`;
  $('curl').textContent = command;
  $('curl').dataset.url = url;
}

async function upload(file) {
  if (state.busy) return;
  showError('');
  if (!/^image\/(jpeg|png|webp)$/.test(file.type)) {
    showError(file.type === 'image/heic' || /\.hei[cf]$/i.test(file.name)
      ? 'HEIC photos are not supported: choose "Most compatible" (JPEG) in the iPhone camera settings, or export the photo as JPEG.'
      : 'Please choose a JPEG, PNG or WebP photo.');
    return;
  }
  setBusy(true);
  state.fileName = /^[A-Za-z0-9._-]{1,64}$/.test(file.name) ? file.name : 'pet.jpg';
  try {
    showStatus('Uploading…', 0);
    const options = { effects: state.effect, ...PREVIEW };
    const body = new FormData();
    body.append('image', file, state.fileName);
    const response = await call(`/v1/jobs?${queryOf(options)}`, { method: 'POST', body, headers: sessionHeaders() });
    if (!response.ok) throw new Error(await messageOf(response));
    state.sessionId = response.headers.get('X-Session-ID') ?? (await response.clone().json()).sessionId;
    const job = await followJob(await response.json());
    const first = job.files?.[0];
    if (job.status !== 'succeeded' || !first || first.status !== 'succeeded') throw new Error(first?.error?.message ?? 'The cut-out failed. Please try another photo.');
    state.originalId = new URL(first.originalUrl, location.href).pathname.split('/').pop();
    state.last = options;
    const result = first.results[0];
    showStatus('Done: your cut-out is below.');
    await showCutout(result.url, captionOf(result, first.petFound), options.effects);
    updateCurl();
    $('result-title').focus();
    // A style picked while the photo went up.
    state.pending = state.effect !== options.effects;
  } catch (error) {
    showStatus('No cut-out yet.');
    showError(error.message);
  } finally {
    setBusy(false);
  }
  if (state.pending) void switchStyle(state.effect);
}

/** Re-renders the stored photo with other options (no upload). */
async function render(options) {
  const path = `/v1/sessions/${encodeURIComponent(state.sessionId)}/images/${encodeURIComponent(state.originalId)}/renders?${queryOf(options)}`;
  const response = await call(path, { method: 'POST', headers: { ...sessionHeaders(), Accept: 'application/json' } });
  if (!response.ok) throw new Error(await messageOf(response));
  const answer = await response.json();
  state.last = options;
  updateCurl();
  return { ...answer, result: answer.results[0] };
}

async function switchStyle(effect) {
  state.effect = effect;
  if (!state.originalId) return;
  if (state.busy) {
    state.pending = true;
    return;
  }
  setBusy(true);
  showError('');
  try {
    // The latest style asked for wins: one picked while this one rendered is rendered next.
    do {
      state.pending = false;
      const wanted = state.effect;
      showStatus(`Rendering ${labelOf(wanted)}…`);
      const { result, petFound } = await render({ effects: wanted, ...PREVIEW });
      if (state.effect !== wanted) continue;
      await showCutout(result.url, captionOf(result, petFound), wanted);
      showStatus(`${labelOf(wanted)} is shown.`);
    } while (state.pending);
  } catch (error) {
    showError(error.message);
  } finally {
    setBusy(false);
  }
}

async function download(format) {
  if (!state.originalId || state.busy) return;
  setBusy(true);
  showError('');
  try {
    showStatus(`Preparing the ${format.toUpperCase()}…`);
    const { result } = await render({ effects: state.effect, format });
    const link = /** @type {HTMLAnchorElement} */ ($('download-link'));
    link.href = result.url;
    link.download = `pet-${state.effect}.${format}`;
    link.click();
    showStatus(`${format.toUpperCase()} downloaded (${result.width}×${result.height} px).`);
  } catch (error) {
    showError(error.message);
  } finally {
    setBusy(false);
  }
}

async function loadStyles() {
  const list = $('style-list');
  try {
    const response = await call('/v1/effects', { headers: { Accept: 'application/json' } });
    if (!response.ok) throw new Error(await messageOf(response));
    const { effects } = await response.json();
    list.replaceChildren(...effects.map((effect) => styleOption(effect)));
  } catch (error) {
    list.textContent = `The styles could not be loaded: ${error.message}`;
  }
}

function styleOption(effect) {
  const wrap = document.createElement('div');
  wrap.className = 'style-option';
  const input = document.createElement('input');
  Object.assign(input, { type: 'radio', name: 'effect', value: effect.name, id: `effect-${effect.name}`, checked: effect.name === state.effect });
  input.dataset.label = effect.label;
  if (effect.description) input.setAttribute('aria-describedby', `effect-${effect.name}-desc`);
  input.addEventListener('change', () => void switchStyle(effect.name));
  const label = document.createElement('label');
  label.htmlFor = input.id;
  const preview = Object.assign(document.createElement('img'), { src: effect.previewUrl, alt: '', width: 64, height: 64, loading: 'lazy', decoding: 'async' });
  const name = Object.assign(document.createElement('span'), { textContent: effect.label });
  label.append(preview, name);
  const description = Object.assign(document.createElement('span'), { id: `effect-${effect.name}-desc`, className: 'visually-hidden', textContent: effect.description ?? '' });
  wrap.append(input, label, description);
  return wrap;
}

async function copyCurl() {
  const text = $('curl').textContent ?? '';
  try {
    await navigator.clipboard.writeText(text);
    $('copied').textContent = 'Copied.';
  } catch {
    // No clipboard permission (an http page, an old browser): select the text for a manual copy.
    const range = document.createRange();
    range.selectNodeContents($('curl'));
    const selection = getSelection();
    selection?.removeAllRanges();
    selection?.addRange(range);
    $('copied').textContent = 'Selected: press Ctrl+C (⌘C) to copy.';
  }
}

function wireDrop() {
  const drop = $('drop');
  const input = /** @type {HTMLInputElement} */ ($('file'));
  input.addEventListener('change', () => {
    const file = input.files?.[0];
    if (file) void upload(file);
    input.value = '';
  });
  // A photo dropped anywhere on the page is taken (not opened by the browser in place of the page).
  document.addEventListener('dragover', (event) => {
    event.preventDefault();
    drop.classList.add('over');
  });
  document.addEventListener('dragleave', (event) => {
    if (event.target === document.documentElement || !event.relatedTarget) drop.classList.remove('over');
  });
  document.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    const file = event.dataTransfer?.files?.[0];
    if (file) void upload(file);
  });
}

function start() {
  $('result-title').tabIndex = -1;
  wireDrop();
  $('download-png').addEventListener('click', () => void download('png'));
  $('download-webp').addEventListener('click', () => void download('webp'));
  $('copy-curl').addEventListener('click', () => void copyCurl());
  void loadStyles();
}

start();
