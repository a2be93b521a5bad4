// Values + options -> a Cloud Run service (Knative serving.knative.dev/v1), as
// an object and as YAML for `gcloud run services replace`. Pure: no file, no
// network, no clock. Why each setting is what it is: deploy/cloudrun/README.md;
// the Cloud Run rules it must meet are tests in test/deploy.render.test.ts.
import { stringify } from 'yaml';
import { invalidOption } from '../../errors.js';
import { OPTIONAL_SECRETS, REQUIRED_SECRETS } from './schema.js';
import type { DeployValues, Variant, VariantName } from './schema.js';
import { definedVariants } from './values.js';

/** The container's port: Cloud Run sends requests there and sets PORT to it. */
export const CONTAINER_PORT = 8080;
/** The traffic tag of a revision rendered with --keep-traffic (https://candidate---<service>-....run.app). */
export const CANDIDATE_TAG = 'candidate';
/** Stands in for the digest when no --image is given: gcloud refuses it, so a preview can never be deployed by mistake. */
export const PREVIEW_DIGEST = 'sha256:NO-IMAGE-GIVEN-render-with--image';

export interface RenderOptions {
  /** cpu or gpu; default: the values' defaultVariant. */
  readonly variant?: VariantName;
  /** `<repository>/petcut-<variant>[:tag]@sha256:<64 hex>`; absent: a preview that gcloud refuses. */
  readonly image?: string;
  /** The revision that keeps 100% of traffic while the new one gets 0% under the `candidate` tag. */
  readonly keepTraffic?: string;
  /** Names the new revision `<service>-<suffix>`. */
  readonly revisionSuffix?: string;
}

type EnvVar = { name: string; value: string } | { name: string; valueFrom: { secretKeyRef: { name: string; key: string } } };
type Traffic = { latestRevision: true; percent: number } | { revisionName: string; percent: number; tag?: string };
type Probe = { httpGet: { path: string; port: number }; initialDelaySeconds: number; periodSeconds: number; timeoutSeconds: number; failureThreshold: number };

export interface CloudRunService {
  apiVersion: 'serving.knative.dev/v1';
  kind: 'Service';
  metadata: { name: string; labels: Record<string, string>; annotations: Record<string, string> };
  spec: {
    template: {
      metadata: { name?: string; labels: Record<string, string>; annotations: Record<string, string> };
      spec: {
        containerConcurrency: number;
        timeoutSeconds: number;
        serviceAccountName: string;
        nodeSelector?: Record<string, string>;
        containers: Array<{
          name: string; image: string; ports: Array<{ name: string; containerPort: number }>; env: EnvVar[];
          resources: { limits: Record<string, string> }; startupProbe: Probe; livenessProbe: Probe;
        }>;
      };
    };
    traffic: Traffic[];
  };
}

export interface Rendered {
  readonly manifest: CloudRunService;
  readonly variant: VariantName;
  /** True when no --image was given (the image reference is a placeholder). */
  readonly preview: boolean;
}

const DIGEST_REF = /^(?<repository>[a-z0-9.-]+(?::\d+)?(?:\/[a-z0-9._-]+)+)(?::[\w][\w.-]{0,127})?@sha256:[a-f0-9]{64}$/;

/** Where the variant's images live: `<region>-docker.pkg.dev/<project>/<repository>/petcut-<variant>`. */
export function imageRepository(values: DeployValues, variant: VariantName): string {
  return `${values.region}-docker.pkg.dev/${values.project}/${values.repository}/petcut-${variant}`;
}

/** A digest reference to the variant's repository, or an --image error saying what is allowed. */
export function checkImage(image: string, expected: string): string {
  const match = DIGEST_REF.exec(image);
  if (!match) {
    const tagOnly = !image.includes('@');
    throw invalidOption('--image', `${tagOnly ? `"${image}" names a tag (or nothing), not a digest` : `"${image}" is not a valid digest reference`}: ` +
      `use ${expected}@sha256:<64 hex digits> (a tag may stay before it: ${expected}:<tag>@sha256:...); a tag can move to another image, a digest cannot`);
  }
  if (match.groups!.repository !== expected) throw invalidOption('--image', `"${match.groups!.repository}" is not this variant's repository: use ${expected}@sha256:<64 hex digits>`);
  return image;
}

function chooseVariant(values: DeployValues, wanted: VariantName | undefined): [VariantName, Variant] {
  const name = wanted ?? values.defaultVariant;
  const variant = values.variants[name];
  if (!variant) throw invalidOption(`--${name}`, `the ${values.environment} values define no ${name} variant (variants: ${definedVariants(values).join(', ')})`);
  return [name, variant];
}

/** The new revision's name, and the traffic block (explicit, so `services replace` never guesses). */
function trafficOf(values: DeployValues, options: RenderOptions): { revision?: string; traffic: Traffic[] } {
  const revision = options.revisionSuffix === undefined ? undefined : `${values.service}-${options.revisionSuffix}`;
  if (revision !== undefined && (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(options.revisionSuffix!) || revision.length > 63)) {
    throw invalidOption('--revision-suffix', `"${options.revisionSuffix}": lower-case letters, digits and "-", and ${values.service}-<suffix> at most 63 characters`);
  }
  if (options.keepTraffic === undefined) return { revision, traffic: [{ latestRevision: true, percent: 100 }] };
  if (revision === undefined) throw invalidOption('--keep-traffic', 'needs --revision-suffix, so the new revision has a name the traffic block can give 0%');
  if (!options.keepTraffic.startsWith(`${values.service}-`) || options.keepTraffic === revision) {
    throw invalidOption('--keep-traffic', `"${options.keepTraffic}" must be an existing revision of ${values.service} (${values.service}-...), not the new one`);
  }
  return { revision, traffic: [{ revisionName: options.keepTraffic, percent: 100 }, { revisionName: revision, percent: 0, tag: CANDIDATE_TAG }] };
}

/** The env the values imply, then the values' own env, then the secrets as Secret Manager references. */
function envOf(values: DeployValues, name: VariantName, variant: Variant): EnvVar[] {
  const derived: Record<string, string> = {
    PETCUT_DATA_DIR: values.dataDir,
    PETCUT_STORAGE: 'gcs',
    PETCUT_BUCKET: values.bucket,
    PETCUT_GCS_PROJECT: values.project,
    PETCUT_DEVICE: name === 'gpu' ? 'cuda' : 'cpu',
    PETCUT_CONCURRENCY: String(variant.concurrency),
    PETCUT_QUEUE_MAX: String(variant.queueMax),
    PETCUT_THREADS: String(variant.cpu),
    PETCUT_MEMORY_LIMIT_MB: String(Math.round(variant.memoryGiB * 1024)),
    PETCUT_SHUTDOWN_TIMEOUT_S: String(values.drainSeconds),
    // The cost meter's instance shape is what this manifest asks for (and what Cloud Run bills).
    PETCUT_COST_BILLING: variant.billing,
    PETCUT_COST_VCPUS: String(variant.cpu),
    PETCUT_COST_MEMORY_GIB: String(variant.memoryGiB),
    PETCUT_COST_GPUS: variant.gpu ? '1' : '0',
    ...(variant.gpu ? { PETCUT_COST_GPU_TYPE: variant.gpu.type } : {}),
  };
  const own = { ...values.env, ...variant.env };
  const plain = [...Object.entries(derived), ...Object.entries(own).sort(([a], [b]) => a.localeCompare(b))].map(([key, value]) => ({ name: key, value }));
  const secrets = [...REQUIRED_SECRETS, ...OPTIONAL_SECRETS].flatMap((key) => {
    const ref = values.secrets[key];
    return ref ? [{ name: key, valueFrom: { secretKeyRef: { name: ref.secret, key: ref.version } } }] : [];
  });
  return [...plain, ...secrets];
}

function probeOf(probe: DeployValues['probes']['startup']): Probe {
  const { path, ...timing } = probe;
  return { httpGet: { path, port: CONTAINER_PORT }, ...timing };
}

function templateAnnotations(values: DeployValues, variant: Variant): Record<string, string> {
  return {
    'autoscaling.knative.dev/minScale': String(values.scaling.min),
    'autoscaling.knative.dev/maxScale': String(values.scaling.max),
    'run.googleapis.com/execution-environment': values.executionEnvironment,
    // false: CPU always allocated, i.e. instance-based billing (required with a GPU).
    'run.googleapis.com/cpu-throttling': String(variant.billing === 'request'),
    'run.googleapis.com/startup-cpu-boost': String(values.startupCpuBoost),
    'run.googleapis.com/sessionAffinity': String(values.sessionAffinity),
    ...(variant.gpu && !variant.gpu.zonalRedundancy ? { 'run.googleapis.com/gpu-zonal-redundancy-disabled': 'true' } : {}),
  };
}

/** `32Gi`, or `512Mi` for a part of a GiB (Kubernetes quantities, as Cloud Run reads them). */
function memoryQuantity(gib: number): string {
  return Number.isInteger(gib) ? `${gib}Gi` : `${Math.round(gib * 1024)}Mi`;
}

export function renderService(values: DeployValues, options: RenderOptions = {}): Rendered {
  const [name, variant] = chooseVariant(values, options.variant);
  const repository = imageRepository(values, name);
  const image = options.image === undefined ? `${repository}@${PREVIEW_DIGEST}` : checkImage(options.image, repository);
  const { revision, traffic } = trafficOf(values, options);
  const labels = { app: 'petcut', environment: values.environment, variant: name };
  const limits: Record<string, string> = { cpu: String(variant.cpu), memory: memoryQuantity(variant.memoryGiB) };
  if (variant.gpu) limits['nvidia.com/gpu'] = '1';
  const manifest: CloudRunService = {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: { name: values.service, labels: { 'cloud.googleapis.com/location': values.region, ...labels }, annotations: { 'run.googleapis.com/ingress': values.ingress } },
    spec: {
      template: {
        metadata: { ...(revision ? { name: revision } : {}), labels, annotations: templateAnnotations(values, variant) },
        spec: {
          // What one instance really admits: images in the pipelines plus images allowed to wait (src/service/capacity.ts).
          // A request past that would only get petcut's 503; at the limit Cloud Run sends it to another instance instead.
          containerConcurrency: variant.concurrency + variant.queueMax,
          timeoutSeconds: values.requestTimeoutSeconds,
          serviceAccountName: `${values.serviceAccount}@${values.project}.iam.gserviceaccount.com`,
          ...(variant.gpu ? { nodeSelector: { 'run.googleapis.com/accelerator': variant.gpu.type } } : {}),
          containers: [{
            name: 'petcut',
            image,
            ports: [{ name: 'http1', containerPort: CONTAINER_PORT }],
            env: envOf(values, name, variant),
            resources: { limits },
            startupProbe: probeOf(values.probes.startup),
            livenessProbe: probeOf(values.probes.liveness),
          }],
        },
      },
      traffic,
    },
  };
  return { manifest, variant: name, preview: options.image === undefined };
}

/** The manifest as YAML, under a header that says where it came from and how to apply it. */
export function renderYaml(values: DeployValues, options: RenderOptions = {}, source = 'deploy/cloudrun'): string {
  const { manifest, variant, preview } = renderService(values, options);
  const header = [
    '# generated by petcut deploy render; do not edit',
    `# from ${source}/base.yml + ${values.environment}.yml, variant ${variant}${variant === values.defaultVariant ? ' (the default)' : ''}`,
    `# apply: gcloud run services replace <this file> --project ${values.project} --region ${values.region}`,
    ...(preview ? ['# PREVIEW: no --image given; the image reference is a placeholder that gcloud refuses'] : []),
  ];
  // YAML 1.1 as gcloud reads it (PyYAML): strings such as off, on, yes and no are quoted, never booleans.
  return `${header.join('\n')}\n${stringify(manifest, { lineWidth: 0, version: '1.1' })}`;
}
