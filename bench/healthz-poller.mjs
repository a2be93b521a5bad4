#!/usr/bin/env node
// Polls <base>/healthz every 100 ms from its own process (so the load
// clients' work never delays the measurement) until stdin closes, then
// prints {samples, p50, p99, max, failures} in ms.
const base = process.argv[2];
const samples = [];
let failures = 0;
let stop = false;
process.stdin.on('end', () => (stop = true)).resume();
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? 0;
while (!stop) {
  const t = performance.now();
  try {
    const response = await fetch(`${base}/healthz`);
    await response.arrayBuffer();
    if (response.status !== 200) failures++;
  } catch {
    failures++;
  }
  samples.push(performance.now() - t);
  await new Promise((resolve) => setTimeout(resolve, 100));
}
console.log(JSON.stringify({ samples: samples.length, p50: +pct(samples, 0.5).toFixed(1), p99: +pct(samples, 0.99).toFixed(1), max: +pct(samples, 1).toFixed(1), failures }));
