import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { totalmem } from 'node:os';

/**
 * Memory use measured against the container's limit (cgroup v2, then v1),
 * not the host's RAM: on Cloud Run the host has far more memory than the
 * instance may use, and the first version's check never fired (lesson 11).
 */
export interface MemoryReading {
  readonly usedBytes: number;
  readonly limitBytes: number;
  readonly source: 'cgroup-v2' | 'cgroup-v1' | 'configured' | 'host';
  readonly rssBytes: number;
}

export type MemoryProbe = () => Promise<MemoryReading>;

const V2 = { limit: '/sys/fs/cgroup/memory.max', usage: '/sys/fs/cgroup/memory.current', stat: '/sys/fs/cgroup/memory.stat', inactive: 'inactive_file' };
const V1 = { limit: '/sys/fs/cgroup/memory/memory.limit_in_bytes', usage: '/sys/fs/cgroup/memory/memory.usage_in_bytes', stat: '/sys/fs/cgroup/memory/memory.stat', inactive: 'total_inactive_file' };
// cgroup v1 reports "no limit" as a huge page-aligned number.
const UNLIMITED = 2 ** 60;

async function readNumber(path: string): Promise<number | undefined> {
  try {
    const text = (await readFile(path, 'utf8')).trim();
    const value = Number(text);
    return text === 'max' || !Number.isFinite(value) ? undefined : value;
  } catch {
    return undefined;
  }
}

/** The page cache the kernel can drop is not pressure: subtract inactive file pages, as the OOM killer's view does. */
async function inactiveFile(path: string, key: string): Promise<number> {
  try {
    const line = (await readFile(path, 'utf8')).split('\n').find((l) => l.startsWith(`${key} `));
    return line ? Number(line.split(' ')[1]) || 0 : 0;
  } catch {
    return 0;
  }
}

async function readCgroup(files: typeof V2): Promise<{ used: number; limit: number } | undefined> {
  const [limit, usage] = await Promise.all([readNumber(files.limit), readNumber(files.usage)]);
  if (usage === undefined) return undefined;
  const used = Math.max(0, usage - await inactiveFile(files.stat, files.inactive));
  return { used, limit: limit !== undefined && limit < UNLIMITED ? limit : Number.POSITIVE_INFINITY };
}

export function createMemoryProbe(configuredLimitBytes?: number): MemoryProbe {
  return async () => {
    const rssBytes = process.memoryUsage.rss();
    const cgroup = (await readCgroup(V2)) ?? (await readCgroup(V1));
    const hostLimit = totalmem();
    if (configuredLimitBytes !== undefined) {
      return { usedBytes: rssBytes, limitBytes: configuredLimitBytes, source: 'configured', rssBytes };
    }
    if (cgroup && Number.isFinite(cgroup.limit)) {
      return { usedBytes: cgroup.used, limitBytes: cgroup.limit, source: (await readNumber(V2.usage)) !== undefined ? 'cgroup-v2' : 'cgroup-v1', rssBytes };
    }
    // No container limit: the process's own resident memory against the host's RAM.
    return { usedBytes: rssBytes, limitBytes: hostLimit, source: 'host', rssBytes };
  };
}

/** The container's memory limit (cgroup v2, then v1), read synchronously for start-up configuration; undefined without one. */
export function containerMemoryLimit(): number | undefined {
  for (const path of [V2.limit, V1.limit]) {
    try {
      const text = readFileSync(path, 'utf8').trim();
      const bytes = Number(text);
      if (text !== 'max' && Number.isFinite(bytes) && bytes > 0 && bytes < UNLIMITED) return bytes;
    } catch {
      // not this cgroup version
    }
  }
  return undefined;
}
