// Reads and validates the SLO file. Every error is one line that names the file
// and the field, e.g. "deploy/slo/petcut.slo.yml: objectives[2].objective: must be
// between 0 and 100 (exclusive)", so a bad edit is fixed without reading code.
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { BURN_ALERTS } from './burnRates.js';
import { sloFileSchema } from './schema.js';
import type { SloFile } from './schema.js';

export class SloFileError extends Error {
  override readonly name = 'SloFileError';
}

/** `objectives[2].sli.kind` from zod's ['objectives', 2, 'sli', 'kind']. */
export function fieldPath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const key of path) text += typeof key === 'number' ? `[${key}]` : `${text ? '.' : ''}${String(key)}`;
  return text || '(top level)';
}

/** One zod issue as `field.path: what is wrong` (the rollout and load-profile files use it too). */
export function describeIssue(issue: z.core.$ZodIssue): string {
  const field = fieldPath(issue.path);
  if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => `${fieldPath([...issue.path, key])}: unknown field`).join('; ');
  if (issue.code === 'invalid_type' && issue.input === undefined) return `${field}: is required`;
  if (issue.code === 'invalid_type' && issue.message.startsWith('Invalid input')) return `${field}: must be ${issue.expected === 'object' ? 'a mapping' : `a ${issue.expected}`}`;
  return `${field}: ${issue.message}`;
}

/** Checks that span fields: unique names, and burn thresholds an error ratio can reach. */
function crossChecks(file: SloFile): string[] {
  const problems: string[] = [];
  const names = new Set<string>();
  const alertNames = new Set<string>();
  file.objectives.forEach((slo, index) => {
    if (names.has(slo.name)) problems.push(`objectives[${index}].name: "${slo.name}" is used twice`);
    if (alertNames.has(slo.alerting.name)) problems.push(`objectives[${index}].alerting.name: "${slo.alerting.name}" is used twice`);
    names.add(slo.name);
    alertNames.add(slo.alerting.name);
    const budget = 1 - slo.objective / 100;
    for (const alert of BURN_ALERTS) {
      if (slo.alerting[alert.kind] === undefined) continue;
      const factor = Math.max(...alert.windows.map((pair) => pair.factor));
      // An error ratio cannot exceed 1: above that the alert could never fire.
      if (factor * budget >= 1) problems.push(`objectives[${index}].objective: ${slo.objective} leaves an error budget the ${factor}x ${alert.kind} burn rate cannot reach (${factor} x ${round(budget)} >= 1); raise it above ${round(100 * (1 - 1 / factor))}`);
    }
  });
  return problems;
}

const round = (value: number): number => Math.round(value * 1e4) / 1e4;

/** Parses and validates SLO file text; `source` names the file in errors. */
export function parseSloFile(text: string, source: string): SloFile {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter });
  const yamlError = document.errors[0];
  if (yamlError) {
    const { line, col } = lineCounter.linePos(yamlError.pos[0]);
    throw new SloFileError(`${source}:${line}:${col}: not valid YAML: ${yamlError.message.split('\n')[0]}`);
  }
  const result = sloFileSchema.safeParse(document.toJS(), { reportInput: true });
  if (!result.success) throw new SloFileError(`${source}: ${result.error.issues.map(describeIssue).join('; ')}`);
  const problems = crossChecks(result.data);
  if (problems.length > 0) throw new SloFileError(`${source}: ${problems.join('; ')}`);
  return result.data;
}

export async function loadSloFile(path: string): Promise<SloFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new SloFileError(`cannot read the SLO file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return parseSloFile(text, path);
}
