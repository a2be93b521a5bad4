import type { WebSocket } from 'ws';

/**
 * What every progress socket does (lesson 10: the first version never read
 * from its sockets and never noticed disconnects): reads client messages,
 * answers `{"type":"ping"}` with a pong, rejects malformed messages with a
 * coded error (the socket stays open), pings idle clients and terminates
 * those that stop answering.
 */
export interface SocketOptions {
  readonly pingMs: number;
  /** Called once when the socket is gone, however it went. */
  readonly onClose: () => void;
  /** Shape of the pong (the compat socket has its own). */
  readonly pong?: () => Record<string, unknown>;
}

export function superviseSocket(socket: WebSocket, options: SocketOptions): { send(message: unknown): void; close(code?: number, reason?: string): void } {
  let alive = true;
  let closed = false;
  const finish = (): void => {
    if (closed) return;
    closed = true;
    clearInterval(pinger);
    options.onClose();
  };
  const pinger = setInterval(() => {
    if (!alive) {
      socket.terminate();
      finish();
      return;
    }
    alive = false;
    socket.ping();
  }, options.pingMs);
  pinger.unref();
  socket.on('pong', () => (alive = true));
  socket.on('close', finish);
  socket.on('error', finish);
  const send = (message: unknown): void => {
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
  };
  socket.on('message', (raw, isBinary) => {
    alive = true;
    let message: unknown;
    try {
      message = isBinary ? undefined : JSON.parse(String(raw));
    } catch {
      message = undefined;
    }
    const type = message && typeof message === 'object' ? (message as { type?: unknown }).type : undefined;
    if (type === 'ping') return send(options.pong?.() ?? { type: 'pong', timestamp: Date.now() });
    send({ type: 'error', code: 'PETCUT_E_BAD_REQUEST', message: 'Unrecognised message: the only message a client sends is {"type":"ping"}.' });
  });
  return {
    send,
    close: (code = 1000, reason = '') => {
      if (socket.readyState === socket.OPEN) socket.close(code, reason);
    },
  };
}
