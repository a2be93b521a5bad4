import { execFile } from 'node:child_process';

/**
 * GPU utilisation, memory, temperature and power from `nvidia-smi`, polled off
 * the request path (a scrape reads the last reading). No nvidia-smi, or no GPU:
 * the state says "no GPU" and no GPU samples are exported; nothing is ever made up.
 */
export interface GpuReading {
  readonly index: string;
  readonly name: string;
  /** Busy share 0-1; null where the GPU does not report it (MIG instances say "[N/A]"). */
  readonly utilization: number | null;
  /** null where the GPU does not report it (unified-memory parts say "[N/A]"). */
  readonly memoryUsedBytes: number | null;
  readonly memoryTotalBytes: number | null;
  /** Core temperature, °C (the plan's KPI); null: "[N/A]" / "[Not Supported]"; absent: a line without the column. */
  readonly temperatureC?: number | null;
  /** Board power draw, W; null and absent as for the temperature. */
  readonly powerW?: number | null;
}

export interface GpuProbe {
  /** The last reading; empty when there is no GPU. */
  readings(): readonly GpuReading[];
  /** "ok", "no GPU (nvidia-smi not found)", or the last error. */
  state(): string;
  close(): void;
}

/** The columns, in the order parseNvidiaSmi reads them. */
export const NVIDIA_SMI_FIELDS = ['index', 'name', 'utilization.gpu', 'memory.used', 'memory.total', 'temperature.gpu', 'power.draw'] as const;
const QUERY = [`--query-gpu=${NVIDIA_SMI_FIELDS.join(',')}`, '--format=csv,noheader,nounits'];
const MIB = 1024 * 1024;

/**
 * A cell as a number, or null when nvidia-smi says it has none: "[N/A]", "[Not Supported]",
 * "[Unknown Error]", "[Insufficient Permissions]" (always in brackets), or anything else non-numeric.
 */
function numberCell(cell: string): number | null {
  if (cell === '' || cell.startsWith('[')) return null;
  const value = Number(cell);
  return Number.isFinite(value) ? value : null;
}

const scaled = (cell: string, factor: number): number | null => {
  const value = numberCell(cell);
  return value === null ? null : value * factor;
};

/** nvidia-smi's CSV (NVIDIA_SMI_FIELDS, noheader, nounits): one reading per line with an index; 5-column lines (an older query) too. */
export function parseNvidiaSmi(csv: string): GpuReading[] {
  return csv.split('\n').map((line) => line.trim()).filter(Boolean).flatMap((line) => {
    // GPU names hold no commas (nvidia-smi's CSV does not quote), so a plain split is exact.
    const cells = line.split(',').map((cell) => cell.trim());
    const [index = '', name = '', utilization = '', used = '', total = ''] = cells;
    if (!/^\d+$/.test(index) || name === '') return [];
    const reading: GpuReading = {
      index, name, utilization: scaled(utilization, 1 / 100), memoryUsedBytes: scaled(used, MIB), memoryTotalBytes: scaled(total, MIB),
      ...(cells.length > 5 ? { temperatureC: numberCell(cells[5]!) } : {}),
      ...(cells.length > 6 ? { powerW: numberCell(cells[6]!) } : {}),
    };
    return [reading];
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
