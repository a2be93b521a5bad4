import { execFile } from 'node:child_process';

/**
 * GPU utilisation and memory from `nvidia-smi`, polled off the request path
 * (a scrape reads the last reading). No nvidia-smi, or no GPU: the state says
 * "no GPU" and no GPU samples are exported; nothing is ever made up.
 */
export interface GpuReading {
  readonly index: string;
  readonly name: string;
  readonly utilization: number;
  readonly memoryUsedBytes: number;
  readonly memoryTotalBytes: number;
}

export interface GpuProbe {
  /** The last reading; empty when there is no GPU. */
  readings(): readonly GpuReading[];
  /** "ok", "no GPU (nvidia-smi not found)", or the last error. */
  state(): string;
  close(): void;
}

const QUERY = ['--query-gpu=index,name,utilization.gpu,memory.used,memory.total', '--format=csv,noheader,nounits'];
const MIB = 1024 * 1024;

export function parseNvidiaSmi(csv: string): GpuReading[] {
  return csv.split('\n').map((line) => line.trim()).filter(Boolean).flatMap((line) => {
    const [index, name, utilization, used, total] = line.split(',').map((cell) => cell.trim());
    const numbers = [utilization, used, total].map(Number);
    if (index === undefined || name === undefined || numbers.some((n) => !Number.isFinite(n))) return [];
    return [{ index, name, utilization: numbers[0]! / 100, memoryUsedBytes: numbers[1]! * MIB, memoryTotalBytes: numbers[2]! * MIB }];
  });
}

export function createGpuProbe(options: { command?: string; intervalMs?: number } = {}): GpuProbe {
  const command = options.command ?? 'nvidia-smi';
  let readings: GpuReading[] = [];
  let state = 'starting';
  const poll = (): void => {
    execFile(command, QUERY, { timeout: 5000 }, (error, stdout) => {
      if (error) {
        readings = [];
        const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
        state = missing ? 'no GPU (nvidia-smi not found)' : `no reading: ${error.message.split('\n')[0]}`;
        // Without the tool there will never be a GPU: stop asking.
        if (missing) clearInterval(timer);
        return;
      }
      readings = parseNvidiaSmi(stdout);
      state = readings.length ? 'ok' : 'no GPU (nvidia-smi lists none)';
    });
  };
  const timer = setInterval(poll, options.intervalMs ?? 15_000);
  timer.unref();
  poll();
  return { readings: () => readings, state: () => state, close: () => clearInterval(timer) };
}
