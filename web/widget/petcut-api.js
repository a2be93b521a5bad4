// The widget's talk with the service: retries with backoff (503/429 + Retry-After, network errors), an overall
// deadline, the App Proxy's storefront token, job progress over the WebSocket with a polling fall-back.

/** Retries per request: 1 + 2 + 4 + 8 s of backoff (or the service's Retry-After) fits the overall deadline. */
const RETRIES = 4;
/** The longest Retry-After the widget honours; a longer one is an outage the shopper should hear about. */
const MAX_WAIT_S = 20;
const POLL_MS = [500, 1000, 1000, 2000];

export class PetcutRequestError extends Error {
  constructor(message, { status = 0, code = 'network', retryAfter } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

const sleep = (ms, signal) => new Promise((resolve, reject) => {
  const timer = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => {
    clearTimeout(timer);
    reject(signal.reason);
  }, { once: true });
});

/** Seconds to wait before retry `attempt` (0-based): the service's Retry-After, else 1, 2, 4, 8 s with jitter. */
export function backoffMs(attempt, retryAfter) {
  const header = Number(retryAfter);
  if (Number.isFinite(header) && header >= 0) return Math.min(header, MAX_WAIT_S) * 1000;
  return (2 ** attempt) * 1000 * (0.8 + Math.random() * 0.4);
}

/**
 * @param {{ base: string, proxy?: string, onRetry?: (info: { attempt: number, waitMs: number, status: number }) => void }} options
 */
export function createClient({ base, proxy, onRetry }) {
  let token;
  let tokenSession;
  let tokenUntil = 0;

  let pending;
  async function fetchToken(sessionId) {
    const answer = await request(`${proxy}/v1/auth/token`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(sessionId ? { sessionId } : {}) }, { auth: false });
    const body = await answer.json();
    token = body.token;
    tokenSession = body.sessionId;
    tokenUntil = Date.parse(body.expiresAt) || Date.now() + 30 * 60_000;
  }

  /** The storefront token's header (App Proxy only); one token request at a time, renewed a minute before it expires. */
  async function authorization(sessionId) {
    if (!proxy) return {};
    const fresh = token && (!sessionId || tokenSession === sessionId) && Date.now() < tokenUntil - 60_000;
    if (!fresh) {
      pending ??= fetchToken(sessionId).finally(() => {
        pending = undefined;
      });
      await pending;
    }
    return { Authorization: `Bearer ${token}` };
  }

  /** fetch with retries; resolves the Response (ok), rejects a PetcutRequestError. */
  async function request(url, init = {}, { auth = true, sessionId, signal, retries = RETRIES } = {}) {
    for (let attempt = 0; ; attempt++) {
      let response;
      try {
        const headers = { ...init.headers, ...(auth ? await authorization(sessionId) : {}) };
        response = await fetch(url, { ...init, headers, signal });
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        if (error instanceof PetcutRequestError) throw error;
        if (attempt >= retries) throw new PetcutRequestError(String(error?.message ?? error));
        const waitMs = backoffMs(attempt);
        onRetry?.({ attempt: attempt + 1, waitMs, status: 0 });
        await sleep(waitMs, signal);
        continue;
      }
      if (response.ok) return response;
      const retryAfter = response.headers.get('Retry-After') ?? undefined;
      if ((response.status === 503 || response.status === 429) && attempt < retries && !(Number(retryAfter) > MAX_WAIT_S)) {
        const waitMs = backoffMs(attempt, retryAfter);
        onRetry?.({ attempt: attempt + 1, waitMs, status: response.status });
        await sleep(waitMs, signal);
        continue;
      }
      let code = `http_${response.status}`;
      let message = response.statusText;
      try {
        const body = await response.json();
        code = body?.error?.code ?? code;
        message = body?.error?.message ?? message;
      } catch {
        // not JSON: keep the status
      }
      throw new PetcutRequestError(message, { status: response.status, code, retryAfter });
    }
  }

  const json = async (url, init, options) => (await request(url, init, options)).json();

  return {
    base,
    request,
    /** The session a storefront token is bound to (App Proxy), so the widget's uploads use it; undefined without a proxy. */
    async tokenSession(sessionId) {
      if (!proxy) return sessionId;
      await authorization(sessionId);
      return tokenSession;
    },
    json,
    /** GET that never throws (routes another helper may not have built yet answer 404): the body or undefined. */
    async optional(url, options) {
      try {
        return await json(url, { headers: { Accept: 'application/json' } }, { ...options, retries: 0 });
      } catch {
        return undefined;
      }
    },
  };
}

/**
 * Follows a job to its end: progress from the job's WebSocket, polling GET /v1/jobs/{id} when the socket fails, is
 * blocked, or closes before the end. Resolves the finished job view.
 * @param {(event: object) => void} onStage called with each stage event ({ stage, percent, etaSeconds })
 */
export function followJob(client, job, onStage, { signal, sessionId, onPoll } = {}) {
  return new Promise((resolve, reject) => {
    let done = false;
    let polling = false;
    const finish = (view) => {
      if (done) return;
      done = true;
      resolve(view);
    };
    const fail = (error) => {
      if (done) return;
      done = true;
      reject(error);
    };
    signal?.addEventListener('abort', () => fail(signal.reason), { once: true });
    const finished = (view) => view && (view.status === 'succeeded' || view.status === 'failed');

    async function poll() {
      if (polling || done) return;
      polling = true;
      for (let i = 0; !done; i++) {
        try {
          onPoll?.();
          // Through the service's base (the App Proxy when there is no service URL), not the service's own address.
          const view = await client.json(`${client.base}/v1/jobs/${encodeURIComponent(job.id)}`, { headers: { Accept: 'application/json' } }, { sessionId, signal });
          if (view.progress) onStage(view.progress);
          if (finished(view)) return finish(view);
        } catch (error) {
          return fail(error);
        }
        await sleep(POLL_MS[Math.min(i, POLL_MS.length - 1)], signal).catch(() => {});
      }
    }

    let socket;
    try {
      if (!job.eventsUrl || typeof WebSocket === 'undefined') throw new Error('no socket');
      socket = new WebSocket(job.eventsUrl);
    } catch {
      void poll();
      return;
    }
    // A socket that says nothing for 8 s (a proxy holding it) is given up for polling.
    let quiet = setTimeout(() => void poll(), 8000);
    socket.addEventListener('message', (message) => {
      clearTimeout(quiet);
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return;
      }
      if (event.type === 'state' && finished(event.job)) finish(event.job);
      else if (event.type === 'stage') onStage(event);
      else if (event.type === 'complete') {
        if (event.job) finish(event.job);
        else void poll();
      }
      if (!done && !polling) quiet = setTimeout(() => void poll(), 15000);
    });
    socket.addEventListener('error', () => void poll());
    socket.addEventListener('close', () => {
      clearTimeout(quiet);
      if (!done) void poll();
    });
    signal?.addEventListener('abort', () => socket.close(), { once: true });
  });
}
