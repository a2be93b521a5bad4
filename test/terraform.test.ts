import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadServiceConfig } from '../src/config.js';
import { loadSecurityConfig } from '../src/security/config.js';
import { gcraParams, gcraStep } from '../src/security/rateLimit/gcra.js';
import { expiryRules } from '../src/service/sessions.js';
import { testEnv } from './support/env.js';
import { sharedPath, sharedPresent } from './support/shared.js';

/**
 * deploy/terraform/ has never been applied and no Terraform binary is here:
 * every file is parsed with HashiCorp's own HCL library (Go, compiled to
 * WebAssembly in @cdktf/hcl2json), every reference is checked to resolve,
 * and the properties the deployment depends on are asserted on the parsed
 * blocks. Expressions are evaluated only in the few shapes used here; a new
 * shape fails `evaluate` loudly rather than passing unchecked.
 */
// Loaded through require, with the two functions typed here: the package's own .d.ts pulls the DOM
// lib into the whole program (`/// <reference lib="dom" />`), which breaks Node's Buffer and Headers types in src/.
const { parse, getExpressionAst } = createRequire(import.meta.url)('@cdktf/hcl2json') as {
  parse(filename: string, contents: string): Promise<Record<string, unknown>>;
  getExpressionAst(filename: string, expression: string): Promise<unknown>;
};

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TF = join(root, 'deploy/terraform');
const ENVIRONMENTS = ['staging', 'production'] as const;
// The plan, section 3: "100 requests/minute per IP", "Burst allowance: 10 requests".
const PLAN = { ipPerMin: 100, burst: 10 };

type Value = unknown;
type Block = Record<string, Value>;
interface Config {
  resource: Record<string, Record<string, Block>>;
  variable: Record<string, Block>;
  locals: Block;
  other: Block[];
}

const tfFiles = readdirSync(TF).filter((name) => name.endsWith('.tf')).sort();
let config: Config;
const tfvars: Record<string, Block> = {};

async function load(): Promise<Config> {
  const merged: Config = { resource: {}, variable: {}, locals: {}, other: [] };
  for (const file of tfFiles) {
    const parsed = await parse(file, readFileSync(join(TF, file), 'utf8'));
    for (const [kind, body] of Object.entries(parsed)) {
      if (kind === 'resource') {
        for (const [type, named] of Object.entries(body as Record<string, Record<string, Block[]>>)) {
          for (const [name, [block]] of Object.entries(named)) {
            merged.resource[type] ??= {};
            if (merged.resource[type][name]) throw new Error(`${type}.${name} is declared twice`);
            merged.resource[type][name] = block!;
          }
        }
      } else if (kind === 'variable') {
        for (const [name, [block]] of Object.entries(body as Record<string, Block[]>)) merged.variable[name] = block!;
      } else if (kind === 'locals') {
        for (const block of body as Block[]) Object.assign(merged.locals, block);
      } else {
        merged.other.push({ [kind]: body });
      }
    }
  }
  return merged;
}

beforeAll(async () => {
  config = await load();
  for (const env of ENVIRONMENTS) tfvars[env] = await parse(`${env}.tfvars`, readFileSync(join(TF, 'environments', `${env}.tfvars`), 'utf8'));
});

const resource = (type: string, name: string): Block => {
  const block = config.resource[type]?.[name];
  if (!block) throw new Error(`no resource ${type}.${name}`);
  return block;
};
const resources = (type: string): Block[] => Object.values(config.resource[type] ?? {});
const nested = (block: Block, ...path: string[]): Block => path.reduce((b, key) => (b[key] as Block[] | undefined)?.[0] ?? {}, block);
const defaults = (): Block => Object.fromEntries(Object.entries(config.variable).map(([name, v]) => [name, v.default]));
const varsOf = (env: (typeof ENVIRONMENTS)[number]): Block => ({ ...defaults(), ...tfvars[env] });

/** The expression shapes the invariants need, nothing more. */
function evaluate(expression: Value, vars: Block): Value {
  if (typeof expression !== 'string' || !expression.startsWith('${')) return expression;
  const body = expression.slice(2, -1).trim();
  const value = (name: string): Value => {
    if (!(name in vars)) throw new Error(`unknown variable ${name}`);
    return vars[name];
  };
  let m: RegExpMatchArray | null;
  if ((m = /^var\.(\w+)$/.exec(body))) return value(m[1]!);
  if ((m = /^local\.(\w+)$/.exec(body))) return evaluate(config.locals[m[1]!], vars);
  if ((m = /^var\.(\w+) \+ var\.(\w+)$/.exec(body))) return Number(value(m[1]!)) + Number(value(m[2]!));
  if ((m = /^var\.(\w+) \* (\d+)$/.exec(body))) return Number(value(m[1]!)) * Number(m[2]);
  if ((m = /^var\.(\w+) \? "(\w+)" : null$/.exec(body))) return value(m[1]!) === true ? m[2] : null;
  throw new Error(`cannot evaluate ${expression}`);
}

/** Every string value (with the path of keys to it) of a parsed block. */
function* strings(value: Value, path: string[] = []): Generator<[string, string[]]> {
  if (typeof value === 'string') yield [value, path];
  else if (Array.isArray(value)) for (const item of value) yield* strings(item, path);
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) yield* strings(v, [...path, k]);
}

interface AstNode { type: string; meta?: Record<string, unknown>; children?: AstNode[] }
interface Traversal { segments: string[]; types: string[] }

/** The traversals of a template (as HCL's parser reads it) and the names its `for` expressions bind. */
async function traversalsOf(text: string): Promise<{ traversals: Traversal[]; bound: Set<string> }> {
  // A heredoc takes the template as it is: quotes need no escaping.
  const ast = (await getExpressionAst('expression.tf', `<<EOE\n${text}\nEOE\n`)) as AstNode | null;
  const traversals: Traversal[] = [];
  const bound = new Set<string>();
  const walk = (node: AstNode | null | undefined): void => {
    if (!node) return;
    if (node.type === 'for') for (const key of ['keyVar', 'valVar']) if (node.meta?.[key]) bound.add(String(node.meta[key]));
    if (node.type === 'scopeTraversal') {
      const parts = node.meta?.traversal as Array<{ type: string; segment: string }>;
      traversals.push({ segments: parts.map((p) => p.segment), types: parts.map((p) => p.type) });
    }
    for (const child of node.children ?? []) walk(child);
  };
  walk(ast);
  return { traversals, bound };
}

/** Names of the dynamic blocks inside a block (their iterators are in scope in their content). */
function dynamicNames(value: Value, found = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const item of value) dynamicNames(item, found);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'dynamic') for (const name of Object.keys(v as Block)) found.add(name);
      dynamicNames(v, found);
    }
  }
  return found;
}

const quotedNames = (expression: Value): string[] => [...String(expression).matchAll(/"([a-z0-9-]+)"/g)].map((m) => m[1]!);

describe('deploy/terraform parses and hangs together', () => {
  it('every .tf file and both tfvars parse with the HCL library (and a broken file is refused)', async () => {
    expect(tfFiles).toEqual(expect.arrayContaining(['versions.tf', 'variables.tf', 'outputs.tf', 'storage.tf', 'run.tf', 'armor.tf', 'lb.tf', 'monitoring.tf']));
    expect(Object.keys(config.resource).length).toBeGreaterThan(10);
    await expect(parse('broken.tf', 'resource "google_storage_bucket" "x" {')).rejects.toThrow(/Unclosed configuration block/);
  });

  it('every reference resolves to a declared block; every variable and local is used', async () => {
    const used = { var: new Set<string>(), local: new Set<string>() };
    const unresolved: string[] = [];
    const blocks: Array<[string, Block]> = [
      ...Object.entries(config.resource).flatMap(([type, named]) => Object.entries(named).map(([name, b]) => [`${type}.${name}`, b] as [string, Block])),
      ...Object.entries(config.variable).map(([name, b]) => [`var.${name}`, b] as [string, Block]),
      ['locals', config.locals], ...config.other.map((b, i) => [`block ${i}`, b] as [string, Block]),
    ];
    for (const [where, block] of blocks) {
      const iterators = dynamicNames(block);
      for (const [text, path] of strings(block)) {
        // ignore_changes lists attribute names; a variable's type is a type expression.
        if (!/\$\{|%\{/.test(text) || path.includes('ignore_changes') || (where.startsWith('var.') && path[0] === 'type')) continue;
        const { traversals, bound } = await traversalsOf(text);
        for (const { segments, types } of traversals) {
          const [head, name, third] = segments;
          const ref = segments.join('.');
          if (head === 'var') { used.var.add(name!); if (!config.variable[name!]) unresolved.push(`${where}: ${ref}`); }
          else if (head === 'local') { used.local.add(name!); if (!(name! in config.locals)) unresolved.push(`${where}: ${ref}`); }
          else if (['each', 'count', 'path', 'self', 'terraform'].includes(head!) || iterators.has(head!) || bound.has(head!)) continue;
          else {
            const target = config.resource[head!]?.[name ?? ''];
            if (!target) unresolved.push(`${where}: ${ref}`);
            // A counted resource is a list: an attribute of it needs an index.
            else if (target.count !== undefined && third !== undefined && types[2] !== 'indexTraversal') unresolved.push(`${where}: ${ref} (counted: needs [0])`);
          }
        }
      }
    }
    expect(unresolved).toEqual([]);
    expect([...used.var].sort()).toEqual(Object.keys(config.variable).sort());
    expect([...used.local].sort()).toEqual(Object.keys(config.locals).sort());
  });

  it('pins Terraform >= 1.6 and the google provider ~> 6.x, with a GCS backend', () => {
    const terraform = (config.other.find((b) => b.terraform)!.terraform as Block[])[0]!;
    expect(terraform.required_version).toBe('>= 1.6');
    const google = (terraform.required_providers as Array<Record<string, Block>>)[0]!.google!;
    expect(google.source).toBe('hashicorp/google');
    expect(google.version).toMatch(/^~> 6\.\d+$/);
    expect(Object.keys(terraform.backend as Block)).toEqual(['gcs']);
  });

  it('every variable has a type and a description; the tfvars set only declared variables and every required one', () => {
    for (const [name, v] of Object.entries(config.variable)) expect([name, typeof v.description, v.type !== undefined]).toEqual([name, 'string', true]);
    const validated = Object.entries(config.variable).filter(([, v]) => v.validation).map(([name]) => name);
    expect(validated).toEqual(expect.arrayContaining(['project_id', 'environment', 'regions', 'bucket_name', 'soft_delete_days', 'cache_days', 'allowed_region_codes', 'rate_limit_ip_per_min', 'rate_limit_burst']));
    const required = Object.entries(config.variable).filter(([, v]) => !('default' in v)).map(([name]) => name);
    for (const env of ENVIRONMENTS) {
      expect(Object.keys(tfvars[env]!).filter((name) => !config.variable[name])).toEqual([]);
      expect(required.filter((name) => !(name in tfvars[env]!))).toEqual([]);
      expect(tfvars[env]!.environment).toBe(env);
    }
  });
});

describe('the bucket', () => {
  const bucket = (): Block => resource('google_storage_bucket', 'images');

  it('is private: public access prevention enforced, uniform access, no other bucket', () => {
    expect(Object.keys(config.resource.google_storage_bucket!)).toEqual(['images']);
    expect(bucket().public_access_prevention).toBe('enforced');
    expect(bucket().uniform_bucket_level_access).toBe(true);
    expect(config.resource.google_storage_bucket_acl).toBeUndefined();
  });

  it.each(ENVIRONMENTS)('%s: deleted and overwritten objects are recoverable (soft delete or versioning)', (env) => {
    const softDelete = Number(evaluate(nested(bucket(), 'soft_delete_policy').retention_duration_seconds, varsOf(env)));
    const versioning = evaluate(nested(bucket(), 'versioning').enabled, varsOf(env));
    expect(softDelete >= 7 * 86400 || versioning === true).toBe(true);
  });

  it('production is dual-region NAM4 with turbo replication (the default); staging the plan\'s regional cache', () => {
    const production = varsOf('production');
    expect([evaluate(bucket().location, production), evaluate(bucket().rpo, production), production.bucket_name]).toEqual(['NAM4', 'ASYNC_TURBO', 'perkieprints-production-images']);
    expect([config.variable.bucket_location!.default, config.variable.bucket_turbo_replication!.default]).toEqual(['NAM4', true]);
    const staging = varsOf('staging');
    expect([evaluate(bucket().location, staging), evaluate(bucket().rpo, staging), staging.bucket_name]).toEqual(['US-CENTRAL1', null, 'perkieprints-staging-cache']);
  });

  it('has exactly petcut\'s lifecycle rules (`petcut storage lifecycle`), in the shape petcut recognises', () => {
    const cacheDays = loadServiceConfig(testEnv()).cacheDays;
    expect(config.variable.cache_days!.default).toBe(cacheDays);
    const rules = (bucket().lifecycle_rule as Block[]).map((rule) => {
      const condition = nested(rule, 'condition');
      expect([Object.keys(condition).sort(), nested(rule, 'action')]).toEqual([['age', 'matches_prefix'], { type: 'Delete' }]);
      const prefixes = condition.matches_prefix as string[];
      expect(prefixes).toHaveLength(1);
      return { prefix: prefixes[0]!, days: evaluate(condition.age, defaults()) };
    });
    const byPrefix = (a: { prefix: string }, b: { prefix: string }): number => a.prefix.localeCompare(b.prefix);
    expect(rules.sort(byPrefix)).toEqual([...expiryRules(cacheDays)].sort(byPrefix));
  });
});

describe('least privilege', () => {
  const RUNTIME = '${google_service_account.runtime.member}';
  const DEPLOYER = '${google_service_account.deployer.member}';
  const members = (type: string, member: string): Block[] => resources(type).filter((b) => b.member === member);

  it('uses the shared account, service and secret names', () => {
    expect([resource('google_service_account', 'runtime').account_id, resource('google_service_account', 'deployer').account_id]).toEqual(['${local.runtime_account}', '${local.deploy_account}']);
    expect([config.locals.runtime_account, config.locals.deploy_account, config.locals.service_name]).toEqual(['petcut-run-${var.environment}', 'petcut-deploy-${var.environment}', 'petcut-${var.environment}']);
    expect(resource('google_secret_manager_secret', 'petcut').secret_id).toBe('petcut-${var.environment}-${each.value}');
    expect(quotedNames(config.locals.secrets)).toEqual(['shopify-api-secret', 'jwt-secret', 'operator-keys', 'redis-url']);
    const repo = resource('google_artifact_registry_repository', 'petcut');
    expect([repo.repository_id, repo.format, repo.location]).toEqual(['petcut', 'DOCKER', 'us-central1']);
  });

  it('the runtime account: objects of its own bucket, telemetry writers, and no project-wide storage or secret role', () => {
    const bucketGrants = members('google_storage_bucket_iam_member', RUNTIME);
    expect(bucketGrants.map((b) => [b.bucket, b.role])).toEqual([['${google_storage_bucket.images.name}', 'roles/storage.objectUser']]);
    expect(resources('google_storage_bucket_iam_binding')).toEqual([]);
    expect(resources('google_project_iam_binding')).toEqual([]);
    const projectRoles = members('google_project_iam_member', RUNTIME);
    expect(projectRoles.map((b) => b.for_each)).toEqual(['${toset(["roles/monitoring.metricWriter", "roles/cloudtrace.agent", "roles/logging.logWriter"])}']);
    for (const grant of resources('google_project_iam_member')) expect(String(grant.role ?? grant.for_each)).not.toMatch(/storage|secretmanager/);
  });

  it('the runtime account reads only its own environment\'s secrets; no secret value is in code', () => {
    const grants = resources('google_secret_manager_secret_iam_member');
    expect(grants.map((b) => [b.for_each, b.role, b.member])).toEqual([['${google_secret_manager_secret.petcut}', 'roles/secretmanager.secretAccessor', RUNTIME]]);
    expect(config.resource.google_secret_manager_secret_version).toBeUndefined();
    for (const file of tfFiles) expect([file, readFileSync(join(TF, file), 'utf8')]).not.toEqual([file, expect.stringMatching(/secret_data/)]);
  });

  it('the deployer: run.developer on the services, actAs the runtime account only, writer on the repository', () => {
    expect(members('google_project_iam_member', DEPLOYER)).toEqual([]);
    expect(members('google_cloud_run_v2_service_iam_member', DEPLOYER).map((b) => [b.for_each, b.role])).toEqual([['${google_cloud_run_v2_service.petcut}', 'roles/run.developer']]);
    const actAs = resources('google_service_account_iam_member').filter((b) => b.role === 'roles/iam.serviceAccountUser');
    // The deployer, the runtime account on itself (its mitigations update its own service: docs/mitigations.md),
    // and the scaling schedule's Scheduler account (scheduler.tf: docs/scaling.md).
    expect(actAs.map((b) => [b.service_account_id, b.member])).toEqual([['${google_service_account.runtime.name}', DEPLOYER], ['${google_service_account.runtime.name}', RUNTIME],
      ['${google_service_account.runtime.name}', '${google_service_account.scaler[0].member}']]);
    expect(members('google_artifact_registry_repository_iam_member', DEPLOYER).map((b) => [b.repository, b.role])).toEqual([['${google_artifact_registry_repository.petcut.name}', 'roles/artifactregistry.writer']]);
  });
});

describe('the runtime account sets its own service\'s scaling (alert-driven mitigations)', () => {
  it('through a custom role on its own services only: read, update, operations; nothing project-wide', () => {
    const role = resource('google_project_iam_custom_role', 'self_scaler');
    expect(role.permissions).toEqual(['run.services.get', 'run.services.update', 'run.operations.get']);
    const grants = resources('google_cloud_run_v2_service_iam_member').filter((b) => b.member === '${google_service_account.runtime.member}');
    expect(grants.map((b) => [b.for_each, b.role])).toEqual([['${google_cloud_run_v2_service.petcut}', '${google_project_iam_custom_role.self_scaler.name}']]);
    expect(resources('google_project_iam_member').map((b) => String(b.role ?? b.for_each))).not.toEqual(expect.arrayContaining([expect.stringMatching(/run\./)]));
  });
});

describe('the scaling schedule\'s Cloud Scheduler jobs (scheduler.tf, docs/scaling.md)', () => {
  it('one job per exported job and region, PATCHing only scaling with the scaler\'s OAuth token', () => {
    const job = resource('google_cloud_scheduler_job', 'scaling');
    expect([job.for_each, job.region, job.name, job.schedule, job.time_zone]).toEqual(['${local.scaling_jobs}', '${each.value.region}', '${each.value.name}', '${each.value.schedule}', '${each.value.time_zone}']);
    const target = nested(job, 'http_target');
    expect(target.http_method).toBe('PATCH');
    expect(target.uri).toBe('https://run.googleapis.com/v2/projects/${var.project_id}/locations/${each.value.region}/services/${google_cloud_run_v2_service.petcut[each.value.region].name}?updateMask=scaling');
    expect(target.body).toBe('${base64encode(each.value.body)}');
    expect(nested(target, 'oauth_token')).toEqual({ service_account_email: '${google_service_account.scaler[0].email}', scope: 'https://www.googleapis.com/auth/cloud-platform' });
    expect(String(config.locals.scaling_jobs)).toMatch(/jsondecode\(file\(local\.scaling_jobs_file\)\)\.jobs/);
    expect(config.locals.scaling_jobs_file).toBe('${var.scaling_jobs_file != "" ? var.scaling_jobs_file : "${path.module}/../scaling/scheduler.${var.environment}.json"}');
    for (const env of ENVIRONMENTS) expect(existsSync(join(TF, '..', 'scaling', `scheduler.${env}.json`))).toBe(true);
  });
  it('the scaler may only update the services (a custom role on them), and act as the runtime account', () => {
    expect(resource('google_project_iam_custom_role', 'scheduled_scaler').permissions).toEqual(['run.services.update']);
    const grant = resource('google_cloud_run_v2_service_iam_member', 'scheduler_scales');
    expect([grant.for_each, grant.role, grant.member]).toEqual(['${var.scaling_schedule ? google_cloud_run_v2_service.petcut : {}}', '${google_project_iam_custom_role.scheduled_scaler[0].name}', '${google_service_account.scaler[0].member}']);
    expect(resources('google_project_iam_member').filter((b) => String(b.member).includes('scaler'))).toEqual([]);
    expect(String(config.locals.apis)).toContain('cloudscheduler.googleapis.com');
  });
});

describe('Cloud Run: Terraform owns the shell, not the rollout', () => {
  it('ignores the template, traffic, scaling and what the deploy tools write', () => {
    const service = resource('google_cloud_run_v2_service', 'petcut');
    const ignored = (nested(service, 'lifecycle').ignore_changes as string[]).map((s) => s.replace(/^\$\{(.*)\}$/, '$1'));
    expect(ignored).toEqual(expect.arrayContaining(['template', 'traffic', 'scaling', 'client', 'client_version', 'labels', 'annotations']));
    expect([service.name, service.for_each, nested(service, 'template').service_account]).toEqual(['${local.service_name}', '${toset(var.regions)}', '${google_service_account.runtime.email}']);
    expect(resource('google_cloud_run_v2_service_iam_member', 'public_invoker').member).toBe('allUsers');
  });
});

describe('edge: load balancer and Cloud Armor', () => {
  const policy = (): Block => resource('google_compute_security_policy', 'edge');
  const rule = (priority: number): Block => (policy().rule as Block[]).find((r) => r.priority === priority)!;

  it('exists only with the load balancer: every compute resource is counted on var.load_balancer', () => {
    const compute = Object.entries(config.resource).filter(([type]) => type.startsWith('google_compute_'));
    expect(compute.length).toBeGreaterThanOrEqual(8);
    for (const [type, named] of compute) {
      for (const [name, block] of Object.entries(named)) {
        expect([`${type}.${name}`, String(block.count ?? block.for_each)]).toEqual([`${type}.${name}`, expect.stringContaining('var.load_balancer')]);
      }
    }
    expect(resource('google_compute_backend_service', 'petcut').security_policy).toBe('${google_compute_security_policy.edge[0].id}');
    expect(varsOf('staging').load_balancer).toBe(false);
  });

  it('rate-limits each address at what petcut\'s own limiter allows in a minute (plan: 100/min, burst 10)', () => {
    const petcut = loadSecurityConfig({}).rateLimit;
    expect([petcut.ipPerMin, petcut.burst]).toEqual([PLAN.ipPerMin, PLAN.burst]);
    expect([config.variable.rate_limit_ip_per_min!.default, config.variable.rate_limit_burst!.default]).toEqual([petcut.ipPerMin, petcut.burst]);
    if (sharedPresent('plan/deployment-monitoring-plan.md')) {
      const plan = readFileSync(sharedPath('plan/deployment-monitoring-plan.md'), 'utf8');
      expect(plan).toContain(`${PLAN.ipPerMin} requests/minute per IP`);
      expect(plan).toContain(`Burst allowance: ${PLAN.burst} requests`);
    }
    // A client sending as fast as it can for 60 s, every millisecond, against petcut's GCRA.
    const params = gcraParams({ name: 'ip', limit: petcut.ipPerMin, windowS: 60, burst: petcut.burst } as Parameters<typeof gcraParams>[0]);
    let tat: number | undefined;
    let allowed = 0;
    for (let nowUs = 0; nowUs < 60e6; nowUs += 1000) {
      const step = gcraStep(tat, nowUs, params, 1);
      if (step.allowed) { allowed += 1; tat = step.tatUs; }
    }
    const limit = rule(3100).rate_limit_options as Block[];
    const options = limit[0]!;
    const threshold = nested(options, 'rate_limit_threshold');
    expect([evaluate(threshold.count, defaults()), threshold.interval_sec]).toEqual([allowed, 60]);
    expect([options.enforce_on_key, options.exceed_action, rule(3100).action]).toEqual(['IP', 'deny(429)', 'throttle']);
    expect(nested(rule(3100), 'match', 'config').src_ip_ranges).toEqual(['*']);
  });

  it('keeps out other markets by origin.region_code', () => {
    expect(rule(1000).action).toBe('deny(403)');
    expect(nested(rule(1000), 'match', 'expr').expression).toBe('!(${local.in_markets}) && !${local.app_proxy_signed}');
    expect(config.locals.in_markets).toContain('origin.region_code');
    expect(config.variable.allowed_region_codes!.default).toEqual(['US', 'CA']);
  });

  it('applies the body-reading WAF rules to everything but multipart uploads, the header-only ones to all', () => {
    // Signatures that read the body as text: compressed image bytes trip them at random.
    const BODY_READING = ['sqli', 'xss', 'lfi', 'rfi', 'rce', 'protocolattack', 'sessionfixation', 'php', 'java', 'nodejs'].map((n) => `${n}-v33-stable`);
    const HEADER_ONLY = ['methodenforcement-v33-stable', 'scannerdetection-v33-stable', 'cve-canary'];
    expect(config.locals.waf_not_multipart).toEqual(BODY_READING);
    expect(config.locals.waf_everywhere).toEqual(HEADER_ONLY);
    const rules = String(config.locals.waf_rules);
    expect(rules).toContain(`evaluatePreconfiguredWaf('\${name}', {'sensitivity': 1}) && \${local.not_multipart}`);
    expect([...rules.matchAll(/for i, name in local\.(\w+)/g)].map((m) => m[1])).toEqual(['waf_everywhere', 'waf_not_multipart']);
    expect(config.locals.not_multipart).toContain("contains('multipart/form-data')");
    const dynamicRule = ((policy().dynamic as Block).rule as Block[])[0]!;
    expect([dynamicRule.for_each, nested(dynamicRule, 'content').preview]).toEqual(['${local.waf_rules}', '${var.waf_preview}']);
  });
});

describe('alert policies', () => {
  const dir = join(root, 'deploy/gcp/policies');
  const files = readdirSync(dir).filter((name) => name.endsWith('.json')).sort();

  it('every deploy/gcp/policies file becomes one policy, with every field it uses mapped', () => {
    expect(files.length).toBeGreaterThan(0);
    expect(config.locals.policy_dir).toBe('${path.module}/../gcp/policies');
    expect(String(config.locals.policies)).toContain('for f in fileset(local.policy_dir, "*.json") : trimsuffix(f, ".json") =>');
    const block = resource('google_monitoring_alert_policy', 'petcut');
    expect(block.for_each).toBe('${local.policies}');
    const text = readFileSync(join(TF, 'monitoring.tf'), 'utf8');
    const unmapped = new Set<string>();
    for (const file of files) {
      const policy = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Record<string, Record<string, unknown>>;
      const need = (expression: string): void => { if (!text.includes(expression)) unmapped.add(expression); };
      for (const key of Object.keys(policy)) need(`each.value.${key}`);
      for (const key of Object.keys(policy.documentation ?? {})) need(`each.value.documentation.${key}`);
      for (const key of Object.keys(policy.alertStrategy ?? {})) need(`each.value.alertStrategy.${key}`);
      for (const condition of policy.conditions as unknown as Array<Record<string, Record<string, unknown>>>) {
        for (const key of Object.keys(condition)) need(key === 'displayName' ? 'conditions.value.displayName' : `conditions.value.${key}`);
        for (const key of Object.keys(condition.conditionPrometheusQueryLanguage ?? {})) need(`conditionPrometheusQueryLanguage.${key}`);
      }
    }
    expect([...unmapped]).toEqual([]);
  });
});

describe('documents', () => {
  const DOCS = ['deploy/terraform/README.md', 'docs/operations/disaster-recovery.md'];

  it.each(DOCS)('%s has no broken relative links', (path) => {
    const markdown = readFileSync(join(root, path), 'utf8').replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
    const targets = [...markdown.matchAll(/\]\(([^)\s#]+)(?:#[^)\s]*)?\)/g)].map((m) => m[1]!).filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t));
    expect(targets.filter((t) => !existsSync(resolve(root, dirname(path), decodeURIComponent(t))))).toEqual([]);
  });

  it('the disaster recovery plan has the plan\'s three scenarios with their RTO and RPO', () => {
    const dr = readFileSync(join(root, 'docs/operations/disaster-recovery.md'), 'utf8');
    for (const [scenario, rto, rpo] of [['Regional outage', '4 h', '1 h'], ['Data loss', '2 h', '15 min'], ['Complete service failure', '1 h', '5 min']]) {
      expect(dr).toMatch(new RegExp(`^## ${scenario} \\(RTO ${rto}, RPO ${rpo}\\)$`, 'm'));
    }
  });
});
