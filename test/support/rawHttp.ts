import { connect } from 'node:net';
import type { Socket } from 'node:net';

/**
 * HTTP/1.1 by hand over a TCP socket, for what fetch cannot do: send headers
 * and stop, trickle a body, stall halfway, cut a multipart body short. The
 * answer is whatever the server wrote before the connection ended (or before
 * `answered()` is awaited).
 */
export interface RawExchange {
  readonly socket: Socket;
  /** Everything received so far. */
  received(): string;
  /** Resolves once a full status line and headers arrived (or the connection ended). */
  answered(): Promise<string>;
  /** Resolves when the connection is closed. */
  readonly closed: Promise<void>;
  write(data: Buffer | string): void;
  destroy(): void;
}

/** `localAddress`: another loopback address (127.0.0.2 ...) to look like another client. */
export function rawRequest(base: string, head: string, localAddress?: string): RawExchange {
  const url = new URL(base);
  const socket = connect({ port: Number(url.port), host: url.hostname, ...(localAddress ? { localAddress } : {}) });
  let text = '';
  const waiters: Array<() => void> = [];
  socket.on('data', (chunk) => {
    text += chunk.toString('latin1');
    waiters.splice(0).forEach((wake) => wake());
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.on('close', () => {
    waiters.splice(0).forEach((wake) => wake());
    resolve();
  }));
  let ended = false;
  void closed.then(() => (ended = true));
  socket.write(head);
  return {
    socket,
    received: () => text,
    async answered() {
      while (!text.includes('\r\n\r\n') && !ended) await new Promise<void>((resolve) => waiters.push(resolve));
      return text;
    },
    closed,
    write: (data) => void (socket.writable && socket.write(data)),
    destroy: () => socket.destroy(),
  };
}

/** The request line and headers of a multipart upload of `contentLength` bytes. */
export function uploadHead(path: string, contentLength: number, boundary = 'petcut-boundary', extra: Record<string, string> = {}): string {
  const headers = { Host: '127.0.0.1', 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Content-Length': String(contentLength), ...extra };
  return `POST ${path} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`;
}

/** The opening of a file part named `field`. */
export function filePartHead(boundary = 'petcut-boundary', field = 'image'): string {
  return `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="pet.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`;
}

/** The status code of a raw answer (0 when none arrived). */
export function statusOf(answer: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
}
