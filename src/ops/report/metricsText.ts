/**
 * Reads the Prometheus text format (GET /metrics) into samples: enough for
 * the report's counters (no timestamps, no exemplars). Lines that do not
 * parse are skipped: the report then says "no data" rather than guess.
 */
export interface TextSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseMetricsText(text: string): TextSample[] {
  const samples: TextSample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = LINE.exec(line);
    if (!match) continue;
    const value = Number(match[3]);
    if (!Number.isFinite(value)) continue;
    const labels: Record<string, string> = {};
    for (const [, key, raw] of (match[2] ?? '').matchAll(LABEL)) labels[key!] = raw!.replace(/\\n/g, '\n').replace(/\\(.)/g, '$1');
    samples.push({ name: match[1]!, labels, value });
  }
  return samples;
}

/** Sum of a metric's samples grouped by one label (samples without it under ""), only those `keep` accepts. */
export function sumBy(samples: readonly TextSample[], name: string, label: string, keep: (labels: Readonly<Record<string, string>>) => boolean = () => true): Record<string, number> {
  const sums: Record<string, number> = {};
  for (const sample of samples) {
    if (sample.name !== name || !keep(sample.labels)) continue;
    const key = sample.labels[label] ?? '';
    sums[key] = (sums[key] ?? 0) + sample.value;
  }
  return sums;
}

export const total = (sums: Readonly<Record<string, number>>): number => Object.values(sums).reduce((a, b) => a + b, 0);
