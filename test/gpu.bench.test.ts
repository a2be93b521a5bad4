import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cudaAvailability } from '../src/inference/runtime.js';
import { childEnv } from './support/env.js';

/**
 * bench/gpu.sh --check on whatever machine the tests run on: it must name each missing prerequisite and
 * exit 3 (docs/gpu.md), without measuring anything. On this project's CPU machines the CUDA provider is
 * never installed (ONNXRUNTIME_NODE_INSTALL=skip), so that line is always expected there.
 */
const root = join(import.meta.dirname, '..');
const bin = mkdtempSync(join(tmpdir(), 'petcut-gpu-bench-'));
afterAll(() => rmSync(bin, { recursive: true, force: true }));

function check(env: Record<string, string> = {}, args: string[] = ['--check']): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('bash', [join(root, 'bench', 'gpu.sh'), ...args], { cwd: root, env: childEnv(env), encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const missingLines = (stderr: string): string[] => stderr.split('\n').filter((line) => line.startsWith('missing: '));

describe('bench/gpu.sh --check', () => {
  it('names what is missing and exits 3; the CUDA provider where onnxruntime-node was installed without it', () => {
    const result = check();
    if (cudaAvailability().reason.includes('without its CUDA provider')) {
      expect(result.status).toBe(3);
      expect(missingLines(result.stderr).some((line) => line.startsWith('missing: CUDA provider: ') && line.includes('ONNXRUNTIME_NODE_INSTALL=cuda12'))).toBe(true);
      expect(result.stderr).toMatch(/prerequisite\(s\) missing; nothing measured/);
    } else {
      expect([0, 3]).toContain(result.status);
    }
    expect(result.stdout).toMatch(/^ok: node v\d+/m);
  });

  it('no nvidia-smi: says so; an nvidia-smi that lists a GPU: that line is fine', () => {
    const without = check({ PATH: ['/usr/local/bin', '/usr/bin', '/bin'].join(delimiter) });
    if (!/^ok: nvidia-smi/m.test(without.stdout)) {
      expect(missingLines(without.stderr)).toContain('missing: nvidia-smi: not on PATH: no NVIDIA driver here (on a container: run it with the GPU passed in, e.g. docker run --gpus all)');
    }
    const fake = join(bin, 'nvidia-smi');
    writeFileSync(fake, '#!/bin/sh\necho "GPU 0: NVIDIA H200 (UUID: GPU-00000000-0000-0000-0000-000000000000)"\n');
    chmodSync(fake, 0o755);
    const withTool = check({ PATH: [bin, process.env.PATH ?? ''].join(delimiter) });
    expect(withTool.stdout).toMatch(/^ok: nvidia-smi: GPU 0: NVIDIA H200/m);
    expect(missingLines(withTool.stderr).filter((line) => line.includes('nvidia-smi: not on PATH'))).toEqual([]);
  });

  it('a node that is not there is named, with how to bring one', () => {
    const result = check({ NODE: join(bin, 'no-such-node'), PATH: process.env.PATH ?? '' });
    expect(result.status).toBe(3);
    expect(missingLines(result.stderr)[0]).toMatch(/^missing: node: no Node\.js on PATH \(nor NODE=\.\.\.\): bring a Node 20/);
  });

  it('bad arguments exit 2 naming the argument; --help has an example', () => {
    const bad = check({}, ['--batch', '0']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--batch must be a whole number from 1 to 99, got "0"');
    expect(check({}, ['--frobnicate']).stderr).toContain('unknown argument "--frobnicate"');
    const help = check({}, ['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Example/m);
    expect(help.stdout).toContain('bench/gpu.sh --check && bench/gpu.sh --out /tmp/gpu --batch 8');
  });
});
