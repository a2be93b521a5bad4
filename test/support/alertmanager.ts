import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from './redis.js';
import { until } from './wait.js';

/**
 * A real Alertmanager (Debian package `prometheus-alertmanager`) on a free
 * loopback port, routing everything to a receiver that sends nothing, its
 * state in `dir`. `fire` posts an alert to its API v2 as Prometheus would.
 */
export interface TestAlertmanager {
  readonly url: string;
  fire(name: string, labels?: Record<string, string>, summary?: string): Promise<void>;
  /** SIGTERM, then resolves once it has exited (it writes its state on the way out: remove its directory after). */
  stop(): Promise<void>;
}

export async function startAlertmanager(dir: string): Promise<TestAlertmanager> {
  const port = await freePort();
  await writeFile(join(dir, 'alertmanager.yml'), 'route: { receiver: nobody }\nreceivers: [{ name: nobody }]\n');
  const child = spawn('/usr/bin/prometheus-alertmanager', [
    `--config.file=${join(dir, 'alertmanager.yml')}`, `--storage.path=${join(dir, 'am')}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address=',
  ], { stdio: 'ignore' });
  const failed = new Promise<never>((_resolve, reject) => child.once('error', (error) => reject(new Error(`prometheus-alertmanager is needed (Debian package prometheus-alertmanager): ${error.message}`))));
  const url = `http://127.0.0.1:${port}`;
  await Promise.race([failed, until(() => fetch(`${url}/-/ready`).then((r) => r.ok, () => false), 'alertmanager to be ready', 60_000, 200)]);
  return {
    url,
    async fire(name, labels = {}, summary) {
      const response = await fetch(`${url}/api/v2/alerts`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify([{ labels: { alertname: name, ...labels }, annotations: summary ? { summary } : {}, startsAt: new Date().toISOString(), endsAt: new Date(Date.now() + 3_600_000).toISOString() }]),
      });
      if (response.status !== 200) throw new Error(`alertmanager refused the alert: ${response.status} ${await response.text()}`);
    },
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(killer);
        resolve();
      });
      child.kill('SIGTERM');
    }),
  };
}
