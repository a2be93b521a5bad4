// deploy/container/Dockerfile read as data: what can be checked without
// building it (the CPU image is built and run for real by `npm run image:build`
// and `npm run image:smoke`, which CI runs after the suite; the GPU image is
// never built here, so these checks are what holds it to the CPU image).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const dockerfile = readFileSync(join(root, 'deploy/container/Dockerfile'), 'utf8');

interface Instruction { readonly op: string; readonly args: string }
interface Stage { readonly name: string; readonly from: string; readonly body: readonly Instruction[] }

/** Instructions with continuation lines joined and comments dropped. */
function instructions(text: string): Instruction[] {
  const joined = text.split('\n').filter((line) => !/^\s*#/.test(line)).join('\n').replace(/\\\n/g, ' ');
  return joined.split('\n').map((line) => line.trim()).filter(Boolean).map((line) => {
    const [op, ...rest] = line.split(/\s+/);
    return { op: op!.toUpperCase(), args: rest.join(' ') };
  });
}

const all = instructions(dockerfile);
const globalArgs = new Map(all.slice(0, all.findIndex((i) => i.op === 'FROM')).filter((i) => i.op === 'ARG').map((i) => {
  const [name, ...value] = i.args.split('=');
  return [name!, value.join('=')];
}));
const stages: Stage[] = [];
for (const instruction of all) {
  if (instruction.op === 'FROM') {
    const [from, , name] = instruction.args.split(/\s+/);
    stages.push({ name: name ?? String(stages.length), from: from!, body: [] });
  } else if (stages.length > 0) (stages.at(-1)!.body as Instruction[]).push(instruction);
}
const stage = (name: string): Stage => {
  const found = stages.find((s) => s.name === name);
  if (!found) throw new Error(`no stage ${name} in the Dockerfile`);
  return found;
};
const ops = (s: Stage, op: string): string[] => s.body.filter((i) => i.op === op).map((i) => i.args);

describe('base images', () => {
  it('every base is an ARG whose default is pinned by digest, with its tag in the comment above it', () => {
    const bases = stages.map((s) => s.from).filter((from) => from.startsWith('${'));
    expect(new Set(bases)).toEqual(new Set(['${BUILD_BASE}', '${BASE}', '${GPU_BASE}']));
    const lines = dockerfile.split('\n');
    for (const name of ['BUILD_BASE', 'BASE', 'GPU_BASE']) {
      const value = globalArgs.get(name) ?? '';
      expect(value, name).toMatch(/^[a-z0-9./-]+\/[a-z0-9._/-]+:[\w.-]+@sha256:[0-9a-f]{64}$/);
      const at = lines.findIndex((line) => line.startsWith(`ARG ${name}=`));
      const tag = value.split('@')[0]!.split('/').slice(-2).join('/').replace(/^library\//, '');
      expect(lines[at - 1], `the comment above ARG ${name} names ${tag}`).toContain(tag);
    }
  });

  it('the Node bases carry NODE_MAJOR, which is the Node major the tests run on', () => {
    const major = process.versions.node.split('.')[0];
    expect(globalArgs.get('NODE_MAJOR')).toBe(major);
    expect(globalArgs.get('BASE')).toContain(`/node:${major}-`);
    expect(globalArgs.get('BUILD_BASE')).toContain(`/node:${major}-`);
    // The build refuses a base with another major (a local base made from another machine's Node).
    expect(ops(stage('build'), 'RUN').join(' ')).toContain('process.env.NODE_MAJOR');
  });

  it('the GPU base is a CUDA 12 runtime with cuDNN 9 or later, not a devel image', () => {
    const gpu = globalArgs.get('GPU_BASE') ?? '';
    expect(gpu).toMatch(/nvidia\/cuda:12\.\d+\.\d+-cudnn(9)?-runtime-/);
    const comment = dockerfile.split('\n').find((line) => line.startsWith('# nvidia/cuda:')) ?? '';
    expect(comment).toMatch(/cuDNN 9/);
  });
});

describe('the two images are one image on two bases', () => {
  const cpu = stage('cpu');
  const gpu = stage('gpu');
  const config = (s: Stage): Record<string, string[]> => Object.fromEntries(['USER', 'WORKDIR', 'EXPOSE', 'STOPSIGNAL', 'ENTRYPOINT', 'CMD'].map((op) => [op, ops(s, op)]));

  it('same user, working directory, port, stop signal and entrypoint', () => {
    expect(config(gpu)).toEqual(config(cpu));
  });

  it('the same environment; the GPU image only adds its device settings', () => {
    const env = (s: Stage): string[] => ops(s, 'ENV').join(' ').split(/\s+/);
    const extra = env(gpu).filter((pair) => !env(cpu).includes(pair));
    expect(env(cpu).filter((pair) => !env(gpu).includes(pair))).toEqual([]);
    expect(extra.map((pair) => pair.split('=')[0])).toEqual(['PETCUT_DEVICE', 'NVIDIA_DRIVER_CAPABILITIES']);
    expect(extra).toContain('PETCUT_DEVICE=cuda');
  });

  it('the same application layout, from the same build stage (the GPU one adds the CUDA provider on top)', () => {
    const app = (s: Stage): string[] => ops(s, 'COPY').filter((c) => c.endsWith(' /app /app'));
    expect(app(cpu)).toEqual(['--from=build /app /app']);
    expect(app(gpu)).toEqual(['--from=build-gpu /app /app']);
    expect(stage('build-gpu').from).toBe('build');
    expect(ops(stage('build-gpu'), 'RUN').join(' ')).toMatch(/onnxruntime-node\/script\/install\.js --onnxruntime-node-install=cuda12/);
  });

  it('labels: source, revision and version from build arguments, in both', () => {
    for (const s of [cpu, gpu]) {
      const labels = ops(s, 'LABEL').join(' ');
      for (const key of ['source', 'revision', 'version']) expect(labels, s.name).toContain(`org.opencontainers.image.${key}="\${${key.toUpperCase()}}"`);
    }
  });
});

describe('what runs', () => {
  const entrypoint = JSON.parse(ops(stage('cpu'), 'ENTRYPOINT')[0]!) as string[];

  it('tini is PID 1 and runs the server itself: no npm, no shell in between', () => {
    expect(entrypoint).toEqual(['/usr/local/bin/tini', '--', 'node', '/app/dist/main.js']);
  });

  it('a non-root user, numeric (no passwd entry needed on either base)', () => {
    expect(ops(stage('cpu'), 'USER')).toEqual(['10001:10001']);
  });

  it('writes only under /tmp: data and ledger there, the model read from the image', () => {
    const env = ops(stage('cpu'), 'ENV').join(' ');
    expect(env).toContain('PETCUT_DATA_DIR=/tmp/petcut');
    expect(env).toContain('PETCUT_MODEL_CACHE_DIR=/app/models');
    expect(env).toContain('HOME=/tmp');
  });

  it('the model is built into the image at build time and the npm data package is not shipped', () => {
    const build = ops(stage('build'), 'RUN').join(' ');
    expect(build).toMatch(/model prepare --model "\$model"/);
    expect(build).toContain('rm -rf node_modules/@imgly/background-removal-data node_modules/onnxruntime-web');
    expect(build).toMatch(/npm prune --omit=dev/);
    expect(globalArgs.get('MODEL')).toBe('isnet');
  });

  it('production dependencies are installed from the lock file (npm ci), and onnxruntime-node\'s download stays off in the CPU build', () => {
    const build = ops(stage('build'), 'RUN').join(' ');
    expect(build).toContain('npm ci');
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { allowScripts: Record<string, boolean> };
    expect(pkg.allowScripts['onnxruntime-node']).toBe(false);
  });
});

describe('.dockerignore', () => {
  const ignore = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));

  it('is an allow-list that lets in exactly what the build stage copies', () => {
    expect(ignore[0]).toBe('*');
    const allowed = ignore.slice(1).map((l) => l.replace(/^!/, '').replace(/\/$/, ''));
    const copied = stages.flatMap((s) => ops(s, 'COPY')).filter((c) => !c.startsWith('--from')).flatMap((c) => c.split(/\s+/).slice(0, -1));
    expect(new Set(copied)).toEqual(new Set(allowed));
  });
});
