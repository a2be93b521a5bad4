import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

// The `petcut` bin (dist/cli/bin.js): MALLOC_ARENA_MAX=2 where the process starts, unless the user set a value.
const probe = `data:text/javascript,console.error('ARENA=' + process.env.MALLOC_ARENA_MAX)`;
function run(args: string[], env: NodeJS.ProcessEnv) {
  const clean = { ...process.env };
  delete clean.MALLOC_ARENA_MAX;
  return spawnSync(process.execPath, ['--import', probe, 'dist/cli/bin.js', ...args], { encoding: 'utf8', env: { ...clean, ...env } });
}

describe.runIf(process.platform === 'linux')('the petcut bin', () => {
  it('runs the command again with MALLOC_ARENA_MAX=2 when it is unset, passing arguments, output and exit code through', () => {
    const listed = run(['model', 'list'], {});
    expect(listed.status).toBe(0);
    // The CLI writes its lines to stderr.
    expect(listed.stderr).toMatch(/^isnet\t1024px/m);
    // The launcher itself, then the command in a child that has the variable.
    expect(listed.stderr.match(/ARENA=\S+/g)).toEqual(['ARENA=undefined', 'ARENA=2']);
    const refused = run(['remove', 'photo.jpg'], {});
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain("required option '-o, --output <dir>'");
  });

  it('keeps a value the user set, without a second process', () => {
    const listed = run(['model', 'list'], { MALLOC_ARENA_MAX: '4' });
    expect(listed.status).toBe(0);
    expect(listed.stderr.match(/ARENA=\S+/g)).toEqual(['ARENA=4']);
  });
});
