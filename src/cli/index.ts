#!/usr/bin/env node
import { Command, Option } from 'commander';
import { createEngine, describeModel, loadEngineConfig, SUBJECT_MODES } from '../engine/index.js';
import { loadDotEnv } from '../config.js';
import { isPetcutError } from '../errors.js';
import { FORMAT_SPELLINGS, LOSSY_FORMATS_LABEL } from '../image/formats.js';
import { CLASS_MODELS, MODELS } from '../inference/models.js';
import { EFFECTS } from '../effects/registry.js';
import { resolveModelFile } from '../inference/modelCache.js';
import { removeBackgrounds } from './remove.js';
import type { RemoveFlags } from './remove.js';
import { registerEvalCommand } from './evalCommand.js';
import type { ReportFlags } from './cost.js';
import { registerDeployCommand } from './deploy.js';
import { registerValidateCommand } from './validate.js';
import { registerLoadtestCommand } from './loadtest.js';
import { registerTrafficCommand } from './traffic.js';
import { registerRolloutCommand } from './rollout.js';
import { registerScaleCommand } from './scale.js';
import { registerReportCommand } from './report.js';
import { registerCostCompareCommand } from './costCompare.js';
import { makeDirs } from '../fsDirs.js';

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

function engineConfig(model?: string) {
  return loadEngineConfig(process.env, model ? { model } : {});
}

// `.env` in the working directory, as the service reads it (the environment wins).
loadDotEnv();

const program = new Command('petcut')
  .description('Background removal for pet photos: cut-outs, quality evaluation and model tools.')
  .showHelpAfterError();

program.command('demo-photo')
  .description('write a generated photo of a pet (a drawn cat on a background) to try the service or the CLI with; no photo of your own needed')
  .argument('[file]', 'where to write it (JPEG)', 'pet.jpg')
  .addHelpText('after', '\nExample:\n  petcut demo-photo pet.jpg && curl -F image=@pet.jpg -o pet.png http://localhost:8080/v1/cutouts')
  .action(async (file: string) => {
    const { demoPhoto } = await import('../image/sample.js');
    const { writeFile } = await import('node:fs/promises');
    const { dirname } = await import('node:path');
    await makeDirs(dirname(file));
    await writeFile(file, await demoPhoto());
    log(`wrote ${file}: a 1024x768 JPEG of a drawn cat`);
  });

program.command('remove')
  .description('cut the pet out of each photo (files or folders)')
  .argument('<inputs...>', 'image files or folders')
  .requiredOption('-o, --output <dir>', 'output folder')
  .addOption(new Option('-f, --format <format>', 'output format').choices(FORMAT_SPELLINGS).default('png'))
  .option('-q, --quality <1-100>', `${LOSSY_FORMATS_LABEL} quality (default 90)`)
  .option('--png-compression <0-9>', 'PNG zlib level (default 1: fast; 9: smallest)')
  .option('-b, --background <colour|file>', 'background: #hex colour or an image file (JPEG output defaults to white)')
  .option('-c, --crop [margin]', 'crop to the subject, with a margin as a share of its size (default 0.05)')
  .option('-m, --mask', 'write the alpha mask only')
  .option('-s, --size <full|preview|px>', 'output size: full, preview (1024 px) or a long side in px')
  .option('-e, --effect <name>', `print style: ${Object.keys(EFFECTS).join(', ')}`)
  .option('--effect-param <name=value...>', 'a parameter of the effect (repeatable), e.g. --effect-param levels=4')
  .addOption(new Option('--subjects <mode>', 'what to keep: pets (default: every animal), largest-pet, point (the pet under --point/--hint), all-salient (as before pet finding)').choices(SUBJECT_MODES).default(undefined, 'pets'))
  .option('--point <fx,fy>', 'the pet under this point, as shares (0..1) of the width and height, e.g. 0.42,0.61 (implies --subjects point)')
  .option('--people', 'keep the people too (owner-and-pet prints); by default a person holding a pet is cut away')
  .option('--hint <x,y>', 'a point on the pet in image pixels (implies --subjects point)')
  .option('--no-subject', 'keep every salient object, not just the main subject')
  .option('--no-refine', 'plain bilinear mask upscale instead of edge-aware refinement')
  .option('--model <name|path.onnx>', `model: ${Object.keys(MODELS).join(', ')} or a path to an ONNX file`)
  .option('--concurrency <n>', 'images in flight', '2')
  .option('--no-progress', 'one line per file instead of a progress bar')
  .addHelpText('after', '\nExamples:\n  petcut remove photos/ -o cutouts/                      every pet in each photo, people cut away\n  petcut remove owner.jpg -o out/ --people               the owner and the dog\n  petcut remove two-cats.jpg -o out/ --point 0.7,0.5     only the cat right of centre\n\nEach line says what was found, e.g. "pet found: cat 0.91 kept, person 0.88 dropped";\n"no pet found" means the saliency cut-out was written.')
  .action(async (inputs: string[], flags: RemoveFlags & { model?: string }) => {
    const engine = await createEngine({ config: engineConfig(flags.model), log });
    try {
      const report = await removeBackgrounds(engine, inputs, { ...flags, progress: flags.progress !== false && process.stderr.isTTY }, log);
      log(`petcut: ${report.done} done, ${report.failed} failed${report.missing ? `, ${report.missing} missing` : ''}`);
      if (report.failed > 0 || report.missing > 0 || report.done === 0) process.exitCode = 1;
    } finally {
      await engine.close();
    }
  });

registerEvalCommand(program, log, engineConfig);

program.command('model')
  .description('list the models, or build and verify the model cache (for container images)')
  .argument('[action]', 'list | prepare', 'list')
  .option('--model <name|path.onnx>', 'model to prepare')
  .option('--no-graph', 'only the model file: do not also save ONNX Runtime\'s optimized graph for this machine\'s CPU (PETCUT_GRAPH_CACHE)')
  .addHelpText('after', '\nExample:\n  PETCUT_MODEL_CACHE_DIR=/build/models petcut model prepare --model isnet\n')
  .action(async (action: string, flags: { model?: string; graph: boolean }) => {
    if (action === 'list') {
      for (const model of Object.values(MODELS)) log(`${model.name}\t${model.inputSize}px\t${model.description}\t${model.license}`);
      // The pet-finding models, always loaded beside the cut-out model (PETCUT_PET_FINDING=false: not at all).
      for (const model of Object.values(CLASS_MODELS)) log(`${model.name} (pet finding)\t${model.dims.join('x')}\t${model.description}\t${model.license}`);
      return;
    }
    if (action !== 'prepare') throw new Error(`unknown action "${action}": use list or prepare`);
    const config = engineConfig(flags.model);
    const path = await resolveModelFile(describeModel(config), config.modelCacheDir);
    log(`model ready: ${path}`);
    if (!flags.graph || !config.graphCache) return;
    // The optimized graphs (the model's and the class models') for this CPU, by loading the engine once on the CPU.
    const engine = await createEngine({ config: { ...config, device: 'cpu', readyAfterWarmUp: false }, pipelines: 1 });
    const { graph, graphNote } = engine.runtime;
    await engine.close();
    if (graph !== 'loaded' && graph !== 'saved' && graph !== 'rebuilt') throw new Error(`the optimized graph was not saved (${graph}): ${graphNote ?? 'unknown reason'}`);
    log(`optimized graph ${graph === 'loaded' ? 'already there' : 'saved'} in ${config.modelCacheDir}/optimized/ (for CPUs with this machine's instruction set)`);
  });

program.command('serve')
  .description('run the HTTP service (configured from the environment: see .env.example; npm start also sets MALLOC_ARENA_MAX=2)')
  .action(async () => {
    await import('../main.js');
  });

program.command('storage')
  .description('show the bucket lifecycle rules petcut needs (one per tier and the cache), or --apply them to the configured bucket')
  .argument('[action]', 'lifecycle', 'lifecycle')
  .option('--apply', 'write them to the bucket (only when they differ; other rules are kept)')
  .action(async (action: string, flags: { apply?: boolean }) => {
    if (action !== 'lifecycle') throw new Error(`unknown action "${action}": use lifecycle`);
    const { loadServiceConfig } = await import('../config.js');
    const { expiryRules } = await import('../service/sessions.js');
    const config = loadServiceConfig();
    const rules = expiryRules(config.cacheDays);
    process.stdout.write(`${JSON.stringify({ storage: config.storage.kind, bucket: config.storage.bucket, rules }, null, 2)}\n`);
    if (!flags.apply) return;
    const { createStore } = await import('../storage/index.js');
    log(`lifecycle: ${await createStore(config.storage).ensureLifecycle(rules)}`);
  });

program.command('auth')
  .description('operator API keys: `hash-key <name>` makes a new key and prints it once with the PETCUT_OPERATOR_KEYS entry (name:sha256); `hash-key <name> --key <key>` hashes an existing one (or pipe it on stdin with --stdin)')
  .argument('<action>', 'hash-key')
  .argument('<name>', 'a name for the key (shown in logs)')
  .option('--key <key>', 'hash this key instead of making a new one')
  .option('--stdin', 'read the key from stdin (keeps it out of the shell history)')
  .action(async (action: string, name: string, flags: { key?: string; stdin?: boolean }) => {
    if (action !== 'hash-key') throw new Error(`unknown action "${action}": use hash-key`);
    if (!/^[\w.-]{1,64}$/.test(name)) throw new Error('the name may use letters, digits, ".", "-" and "_" (at most 64)');
    const { generateOperatorKey, hashOperatorKey } = await import('../security/apiKeys.js');
    const given = flags.stdin ? (await readStdin()).trim() : flags.key;
    const key = given ?? generateOperatorKey();
    if (!given) process.stdout.write(`key (give it to the operator; it is not stored anywhere): ${key}\n`);
    process.stdout.write(`PETCUT_OPERATOR_KEYS entry: ${name}:${hashOperatorKey(key)}\n`);
  });

program.command('slo')
  .description('generate the SLO recording and burn-rate alert rules (Prometheus) from the SLO file; --check fails when the committed rule file is stale')
  .argument('[file]', 'SLO file', 'deploy/slo/petcut.slo.yml')
  .option('-o, --output <file>', 'write the rules to this file instead of stdout')
  .option('--check', 'compare with the rule file (-o, default deploy/prometheus/slo.rules.yml) and exit 1 if it differs')
  .action(async (file: string, flags: { output?: string; check?: boolean }) => {
    const { runSloCommand } = await import('../slo/command.js');
    await runSloCommand(file, flags, log);
  });

const cost = program.command('cost').description('spend from the cost ledgers: report over a time window, or merge instances\' ledgers into one');

cost.command('report')
  .description('spend, images, cost per 1000 images, idle share, top customers, peak vs off-peak (the scaling schedule\'s windows) and per feature (route, print style, output format and size, cache) between --from and --to (UTC dates or ISO date-times)')
  .option('--from <when>', 'start (a date means its midnight UTC; default: today 00:00 UTC)')
  .option('--to <when>', 'end (a date means the end of that day; default: now)')
  .option('--ledger <file|dir...>', 'ledger files or folders of them (default: the folder of PETCUT_COST_LEDGER, else <PETCUT_DATA_DIR>/cost)')
  .option('--top <n>', 'customers to list', '10')
  .option('--by <level>', 'customers are shops, or shopper sessions (shop | session)', 'shop')
  .option('--prices <file>', 'price file for the budgets (default: PETCUT_COST_PRICES, else deploy/cost/prices.yml)')
  .option('--store', 'also read the ledger copies instances uploaded to the configured storage (PETCUT_STORAGE, PETCUT_BUCKET)')
  .option('--schedule <file>', 'scaling schedule whose windows split peak from off-peak (default: PETCUT_SCALING_SCHEDULE, else deploy/scaling/schedule.yml)')
  .option('--json', 'the report as JSON')
  .addHelpText('after', '\nExample:\n  petcut cost report --from 2026-11-01 --to 2026-11-30 --ledger ledgers/ --json\n\nExit codes: 0 the report; 2 a bad argument, ledger, price or schedule file (named in the message).')
  .action(async (flags: ReportFlags) => {
    const { costReport, runCostCommand } = await import('./cost.js');
    await runCostCommand(() => costReport(flags, (text) => process.stdout.write(text)), log);
  });

cost.command('merge')
  .description('copy the entries of other ledgers into one file (entries already there are skipped, so merging twice is harmless)')
  .requiredOption('--into <file>', 'the ledger to merge into (created if missing)')
  .argument('<ledgers...>', 'ledger files or folders of them')
  .action(async (ledgers: string[], flags: { into: string }) => {
    const { costMerge, runCostCommand } = await import('./cost.js');
    await runCostCommand(() => costMerge(flags.into, ledgers, (text) => process.stdout.write(text)), log);
  });

registerCostCompareCommand(cost, log);
registerDeployCommand(program, log);
registerValidateCommand(program, log);
registerLoadtestCommand(program, log);
registerTrafficCommand(program, log);
registerRolloutCommand(program, log);
registerScaleCommand(program, log);
registerReportCommand(program, log);

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

program.parseAsync(process.argv).catch((error: unknown) => {
  log(`petcut: ${isPetcutError(error) ? `${error.message} (${error.code})` : (error as Error).message}`);
  process.exitCode = 1;
});
