// `petcut slo [file] [-o out] [--check]`: SLO file in, Prometheus rules out.
import { readFile, writeFile } from 'node:fs/promises';
import { relative, sep } from 'node:path';
import { loadSloFile } from './load.js';
import { renderRules } from './render.js';

export const DEFAULT_SLO_FILE = 'deploy/slo/petcut.slo.yml';
export const DEFAULT_RULES_FILE = 'deploy/prometheus/slo.rules.yml';

export interface SloFlags {
  output?: string;
  check?: boolean;
}

/** The rules for `sloPath`, as `petcut slo` writes them (the header names the file as given). */
export async function sloRulesText(sloPath: string): Promise<string> {
  // Relative to the working directory, so the header (and --check) does not depend on where the checkout lives.
  return renderRules(await loadSloFile(sloPath), relative(process.cwd(), sloPath).split(sep).join('/'));
}

export async function runSloCommand(sloPath: string, flags: SloFlags, log: (line: string) => void): Promise<void> {
  const rules = await sloRulesText(sloPath);
  if (flags.check) {
    const target = flags.output ?? DEFAULT_RULES_FILE;
    const committed = await readFile(target, 'utf8').catch(() => undefined);
    if (committed === undefined) throw new Error(`${target} is missing: run petcut slo ${sloPath} -o ${target}`);
    if (committed !== rules) throw new Error(`${target} is out of date with ${sloPath}: run petcut slo ${sloPath} -o ${target}`);
    log(`slo: ${target} is up to date`);
    return;
  }
  if (flags.output) {
    await writeFile(flags.output, rules);
    log(`slo: wrote ${flags.output}`);
    return;
  }
  process.stdout.write(rules);
}
