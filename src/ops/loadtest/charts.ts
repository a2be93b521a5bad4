// The report's charts as plain SVG strings (inline in the HTML, rendered to PNG
// for CI logs through src/image/svg.ts): latency over time, latency histogram,
// throughput per second. No chart library: three small drawings.
import type { Sample } from './stats.js';

const W = 900, H = 320, L = 64, R = 16, T = 28, B = 40;
const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const esc = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function frame(title: string, xLabel: string, yLabel: string, xMax: number, yMax: number, body: string, legend = ''): string {
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const y = T + (H - T - B) * (1 - f), x = L + (W - L - R) * f;
    return `<line x1="${L}" x2="${W - R}" y1="${y}" y2="${y}" stroke="#eee"/><text x="${L - 6}" y="${y + 4}" text-anchor="end">${Math.round(yMax * f)}</text>`
      + `<text x="${x}" y="${H - B + 16}" text-anchor="middle">${Math.round(xMax * f * 10) / 10}</text>`;
  }).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`
    + `<rect width="${W}" height="${H}" fill="#fff"/><text x="${L}" y="16" font-size="13" font-weight="bold">${esc(title)}</text>${ticks}`
    + `<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#333"/><line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#333"/>`
    + `<text x="${(L + W) / 2}" y="${H - 6}" text-anchor="middle">${esc(xLabel)}</text><text x="14" y="${(T + H - B) / 2}" transform="rotate(-90 14 ${(T + H - B) / 2})" text-anchor="middle">${esc(yLabel)}</text>${body}${legend}</svg>`;
}

function legendOf(names: readonly string[]): string {
  return names.map((name, i) => `<rect x="${W - R - 230}" y="${T + 4 + i * 14}" width="10" height="10" fill="${COLOURS[i % COLOURS.length]}"/><text x="${W - R - 216}" y="${T + 13 + i * 14}">${esc(name)}</text>`).join('');
}

const MAX_POINTS = 6000; // beyond that a scatter is ink, and the HTML grows by ~60 bytes a point

/** Every request (a sample of them past MAX_POINTS): when it was sent vs how long it took, a colour per route; 503s as crosses. */
export function latencyOverTimeSvg(samples: readonly Sample[]): string {
  const routes = [...new Set(samples.map((s) => s.route))];
  const every = Math.max(1, Math.ceil(samples.length / MAX_POINTS));
  const shown = samples.filter((_, i) => i % every === 0);
  const xMax = Math.max(1, ...samples.map((s) => (s.at + s.ms) / 1000));
  const yMax = Math.max(1, ...samples.map((s) => s.ms));
  const x = (s: Sample): number => L + ((W - L - R) * s.at) / 1000 / xMax, y = (ms: number): number => T + (H - T - B) * (1 - ms / yMax);
  const dots = shown.map((s) => {
    const colour = COLOURS[routes.indexOf(s.route) % COLOURS.length];
    return s.status === 503 || s.status === 0
      ? `<path d="M${x(s) - 3},${y(s.ms) - 3}l6,6m0,-6l-6,6" stroke="${colour}"/>`
      : `<circle cx="${x(s).toFixed(1)}" cy="${y(s.ms).toFixed(1)}" r="2" fill="${colour}" fill-opacity="0.6"/>`;
  }).join('');
  return frame('Latency over time (x = 503 or no answer)', 'seconds since start (sent at)', 'latency (ms)', xMax, yMax, dots, legendOf(routes));
}

/** Latency distribution of the scenarios' own requests: 40 bins from 0 to the max. */
export function latencyHistogramSvg(samples: readonly Sample[]): string {
  const ms = samples.filter((s) => !s.step && s.status >= 200 && s.status < 400).map((s) => s.ms);
  const bins = 40;
  const xMax = Math.max(1, ...ms);
  const counts = new Array<number>(bins).fill(0);
  for (const v of ms) counts[Math.min(bins - 1, Math.floor((v / xMax) * bins))]! += 1;
  const yMax = Math.max(1, ...counts);
  const width = (W - L - R) / bins;
  const bars = counts.map((c, i) => `<rect x="${(L + i * width).toFixed(1)}" y="${(T + (H - T - B) * (1 - c / yMax)).toFixed(1)}" width="${(width - 1).toFixed(1)}" height="${((H - T - B) * c / yMax).toFixed(1)}" fill="${COLOURS[0]}"/>`).join('');
  return frame('Latency distribution (answered requests)', 'latency (ms)', 'requests', xMax, yMax, bars);
}

export interface Second { second: number; sent: number; done: number; ok: number; errors: number; overloaded: number }

/** Per second: requests sent (by schedule), answered OK, and errors. */
export function throughputSvg(seconds: readonly Second[]): string {
  const xMax = Math.max(1, seconds.length);
  const yMax = Math.max(1, ...seconds.map((s) => Math.max(s.sent, s.done)));
  const line = (key: 'sent' | 'ok' | 'errors', colour: string): string => `<polyline fill="none" stroke="${colour}" stroke-width="2" points="${seconds.map((s) => `${(L + ((W - L - R) * (s.second + 0.5)) / xMax).toFixed(1)},${(T + (H - T - B) * (1 - s[key] / yMax)).toFixed(1)}`).join(' ')}"/>`;
  return frame('Throughput per second', 'seconds since start', 'requests / s', xMax, yMax, line('sent', COLOURS[0]!) + line('ok', COLOURS[2]!) + line('errors', COLOURS[1]!), legendOf(['sent', 'errors (5xx, 429, none)', 'answered OK']));
}
