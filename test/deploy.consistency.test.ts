// The Cloud Run values (deploy/cloudrun/, rendered by `petcut deploy render`)
// and the Terraform (deploy/terraform/) describe the same environments from two
// sides: Terraform makes the project's resources, the manifest points the
// service at them. Every name one side uses must be what the other made.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadValues } from '../src/ops/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string): string => readFileSync(`${root}/${path}`, 'utf8');

/** `name = value` lines of a tfvars file: strings, numbers, booleans and lists of strings. */
function tfvars(path: string): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const line of read(path).split('\n')) {
    const m = /^\s*([a-z_]+)\s*=\s*(.+?)\s*$/.exec(line.replace(/#.*$/, ''));
    if (!m) continue;
    const raw = m[2]!;
    values[m[1]!] = raw.startsWith('"') ? JSON.parse(raw) : raw.startsWith('[') ? JSON.parse(raw) : raw === 'true' || raw === 'false' ? raw === 'true' : Number.isFinite(Number(raw)) ? Number(raw) : raw;
  }
  return values;
}

/** The default of a Terraform variable, from variables.tf (numbers and booleans). */
function terraformDefault(name: string): unknown {
  const block = new RegExp(`variable "${name}" \\{([\\s\\S]*?)\\n\\}`).exec(read('deploy/terraform/variables.tf'))?.[1] ?? '';
  const raw = /\n\s*default\s*=\s*(.+)/.exec(block)?.[1]?.trim();
  if (raw === undefined) throw new Error(`variable ${name} has no default in variables.tf`);
  return raw === 'true' || raw === 'false' ? raw === 'true' : raw.startsWith('"') ? JSON.parse(raw) : Number(raw);
}

describe.each(['staging', 'production'] as const)('%s', (environment) => {
  const values = loadValues(environment, `${root}/deploy/cloudrun`);
  const tf = { ...tfvars(`deploy/terraform/environments/${environment}.tfvars`) };
  const setting = (name: string): unknown => (name in tf ? tf[name] : terraformDefault(name));

  it('the same project, environment, region and bucket', () => {
    expect(values.project).toBe(tf.project_id);
    expect(setting('environment')).toBe(environment);
    expect(setting('regions') as string[]).toContain(values.region);
    expect(values.bucket).toBe(tf.bucket_name);
  });

  it('the service and its runtime account are the ones Terraform creates (petcut-<env>, petcut-run-<env>)', () => {
    const run = read('deploy/terraform/run.tf') + read('deploy/terraform/iam.tf') + read('deploy/terraform/main.tf');
    expect(values.service).toBe(`petcut-${environment}`);
    expect(values.serviceAccount).toBe(`petcut-run-${environment}`);
    expect(run).toContain('"petcut-${var.environment}"');
    expect(run).toContain('"petcut-run-${var.environment}"');
  });

  it('every secret the manifest references is one Terraform creates for this environment, and the other way round', () => {
    const block = /locals \{\s*secrets = concat\(\s*\[([^\]]*)\],\s*var\.redis \? \[([^\]]*)\]/.exec(read('deploy/terraform/secrets.tf'));
    const created = [...(block?.[1] ?? '').matchAll(/"([a-z-]+)"/g), ...(setting('redis') ? (block?.[2] ?? '').matchAll(/"([a-z-]+)"/g) : [])].map((m) => `petcut-${environment}-${m[1]}`);
    const referenced = Object.values(values.secrets).map((ref) => ref!.secret);
    expect(new Set(referenced)).toEqual(new Set(created));
  });

  it('the ingress is what Terraform sets (services replace resets what the manifest omits)', () => {
    expect(values.ingress).toBe(setting('load_balancer') ? 'internal-and-cloud-load-balancing' : 'all');
  });

  it('the cache lifetime is the bucket rule\'s, and the service leaves the lifecycle to Terraform', () => {
    expect(Number(values.env.PETCUT_CACHE_DAYS)).toBe(setting('cache_days'));
    expect(values.env.PETCUT_LIFECYCLE).toBe('off');
  });
});
