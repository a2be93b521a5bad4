// `ws` is what the server's @fastify/websocket runs on, so it is installed with
// petcut's production dependencies; Node 20 has no WebSocket client without
// --experimental-websocket. It is listed in devDependencies only: relying on a
// transitive install is fragile, so package.json should list it in dependencies
// (asked of the lead; this room may not edit package.json).
import WebSocket from 'ws';

export interface Message { readonly type?: string; readonly [key: string]: unknown }

/** A client socket that keeps every message and lets a check wait for one. */
export interface Probe {
  readonly messages: Message[];
  readonly send: (message: Record<string, unknown>) => void;
  /** The first message (from `from` on) that matches; rejects after `timeoutMs` or when the socket closes first. */
  readonly waitFor: (match: (message: Message) => boolean, timeoutMs: number, from?: number) => Promise<Message>;
  readonly isOpen: () => boolean;
  readonly closed: Promise<number>;
  /** Drops the connection without a close handshake, as a lost network does. */
  readonly drop: () => void;
  readonly close: () => void;
}

export function openProbe(url: string, timeoutMs: number): Promise<Probe> {
  const socket = new WebSocket(url);
  // Errors after the open show as a close (waitFor reports it); without a listener ws would throw.
  socket.on('error', () => undefined);
  const messages: Message[] = [];
  const waiters = new Set<() => void>();
  const wake = (): void => waiters.forEach((waiter) => waiter());
  socket.on('message', (raw) => {
    try {
      messages.push(JSON.parse(String(raw)) as Message);
    } catch {
      messages.push({ type: 'unparsable', raw: String(raw).slice(0, 200) });
    }
    wake();
  });
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => {
    resolve(code);
    wake();
  }));
  const probe: Probe = {
    messages,
    send: (message) => socket.send(JSON.stringify(message)),
    isOpen: () => socket.readyState === WebSocket.OPEN,
    closed,
    drop: () => socket.terminate(),
    close: () => socket.close(),
    waitFor: (match, waitMs, from = 0) => new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`no matching message within ${waitMs} ms (got ${messages.map((m) => m.type).join(', ') || 'none'})`)), waitMs);
      const check = (): void => {
        const found = messages.slice(from).find(match);
        if (found) finish(undefined, found);
        else if (socket.readyState === WebSocket.CLOSED) finish(new Error(`the socket closed before a matching message (got ${messages.map((m) => m.type).join(', ') || 'none'})`));
      };
      function finish(error?: Error, message?: Message): void {
        clearTimeout(timer);
        waiters.delete(check);
        if (error) reject(error);
        else resolve(message!);
      }
      waiters.add(check);
      check();
    }),
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${url}: no WebSocket within ${timeoutMs} ms`)), timeoutMs);
    socket.once('open', () => {
      clearTimeout(timer);
      resolve(probe);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.once('unexpected-response', (_request, response) => {
      clearTimeout(timer);
      reject(new Error(`${url}: HTTP ${response.statusCode} instead of a WebSocket`));
    });
  });
}
