import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * Real redis-server processes for the rate-limit tests. CI (.ci/run) starts
 * one and exports PETCUT_TEST_REDIS_URL; `npm test` elsewhere starts one per
 * test file. Tests that kill Redis start their own, never the shared one.
 */
export interface RedisServer {
  readonly url: string;
  readonly port: number;
  /** Kills the process (SIGKILL: a crash, no goodbye to clients). */
  kill(): Promise<void>;
  /** Starts it again on the same port (empty: nothing is saved). */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: a Redis that accepts nothing and answers nothing, a hang. */
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

const MISSING = 'redis-server is not installed: the rate-limit tests run against a real Redis. '
  + 'Install it (apt-get install redis-server, brew install redis) or set PETCUT_TEST_REDIS_URL=redis://host:port.';

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** PETCUT_TEST_REDIS_URL when CI provides one, else a server of our own. */
export async function sharedRedis(): Promise<{ url: string; close(): Promise<void> }> {
  const url = process.env.PETCUT_TEST_REDIS_URL;
  if (url) return { url, close: () => Promise.resolve() };
  return startRedisServer();
}

export async function startRedisServer(): Promise<RedisServer> {
  const port = await freePort();
  let child = await launch(port);
  const stop = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill: () => stop('SIGKILL'),
    async restart() {
      await stop('SIGKILL');
      child = await launch(port);
    },
    pause: () => void child.kill('SIGSTOP'),
    resume: () => void child.kill('SIGCONT'),
    async close() {
      child.kill('SIGCONT');
      await stop('SIGKILL');
    },
  };
}

async function launch(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  const failed = new Promise<never>((_resolve, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) => reject(new Error(error.code === 'ENOENT' ? MISSING : `redis-server: ${error.message}`)));
    child.once('exit', (code) => reject(new Error(`redis-server exited (code ${code}) before answering on port ${port}`)));
  });
  failed.catch(() => undefined);
  await Promise.race([waitForPong(port), failed]);
  return child;
}

async function waitForPong(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await pings(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`redis-server did not answer PING on port ${port} within ${timeoutMs} ms`);
}

function pings(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.setTimeout(500);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}
