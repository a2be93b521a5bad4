import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from './redis.js';
import { until } from './wait.js';

/**
 * A real Prometheus (Debian package `prometheus`) on a free loopback port,
 * with `config` as its prometheus.yml (written in `dir`) and its TSDB in
 * `tsdb` (where a backfill may already have put blocks). Resolves once /-/ready.
 */
export async function startPrometheus(dir: string, tsdb: string, config: string, flags: readonly string[] = []): Promise<{ url: string; stop(): void }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  await writeFile(join(dir, 'prometheus.yml'), config);
  const child = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${tsdb}`, `--web.listen-address=127.0.0.1:${port}`, ...flags], { stdio: 'ignore' });
  const failed = new Promise<never>((_resolve, reject) => child.once('error', (error) => reject(new Error(`prometheus is needed (Debian package prometheus): ${error.message}`))));
  const ready = until(() => fetch(`${url}/-/ready`).then((r) => r.ok, () => false), 'prometheus to be ready', 60_000, 200);
  await Promise.race([failed, ready]);
  return { url, stop: () => void child.kill('SIGTERM') };
}
