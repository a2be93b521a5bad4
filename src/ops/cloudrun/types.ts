/**
 * The slice of the Cloud Run Admin API v2 (run.googleapis.com/v2) that
 * petcut's operations code uses, as its REST JSON says it
 * (https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services).
 * Fields petcut never reads are kept as they came (`[key: string]: unknown`)
 * so an update sends the service back whole.
 */

export type TrafficType = 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST' | 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION';

export interface TrafficTarget {
  type?: TrafficType;
  /** Full revision name is not used here: v2 takes the short revision id (`petcut-production-v42`). */
  revision?: string;
  percent?: number;
  tag?: string;
}

export interface TrafficTargetStatus extends TrafficTarget {
  /** The tag's own URL (only with a tag). */
  uri?: string;
}

export type ConditionState = 'STATE_UNSPECIFIED' | 'CONDITION_PENDING' | 'CONDITION_RECONCILING' | 'CONDITION_FAILED' | 'CONDITION_SUCCEEDED';

export interface Condition {
  type?: string;
  state?: ConditionState;
  message?: string;
  lastTransitionTime?: string;
  severity?: string;
  reason?: string;
  revisionReason?: string;
  executionReason?: string;
}

export interface Container {
  name?: string;
  image: string;
  env?: Array<{ name: string; value?: string; valueSource?: unknown }>;
  [key: string]: unknown;
}

export interface RevisionTemplate {
  /** The new revision's name (`<service>-<suffix>`); empty: Cloud Run picks one. */
  revision?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  containers: Container[];
  scaling?: { minInstanceCount?: number; maxInstanceCount?: number };
  [key: string]: unknown;
}

export interface Service {
  /** projects/{project}/locations/{location}/services/{service} */
  name: string;
  uid?: string;
  generation?: string;
  observedGeneration?: string;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  etag?: string;
  template: RevisionTemplate;
  traffic?: TrafficTarget[];
  trafficStatuses?: TrafficTargetStatus[];
  scaling?: { minInstanceCount?: number; maxInstanceCount?: number; scalingMode?: string };
  uri?: string;
  latestReadyRevision?: string;
  latestCreatedRevision?: string;
  terminalCondition?: Condition;
  conditions?: Condition[];
  reconciling?: boolean;
  [key: string]: unknown;
}

export interface Revision {
  /** projects/{project}/locations/{location}/services/{service}/revisions/{revision} */
  name: string;
  uid?: string;
  /** The parent service's full name. */
  service?: string;
  generation?: string;
  observedGeneration?: string;
  createTime?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  containers?: Container[];
  conditions?: Condition[];
  /** Ready = CONDITION_SUCCEEDED; a revision that can never start reports CONDITION_FAILED here. */
  terminalCondition?: Condition;
  reconciling?: boolean;
  etag?: string;
  [key: string]: unknown;
}

/** google.longrunning.Operation */
export interface Operation {
  name: string;
  done?: boolean;
  error?: { code: number; message: string; details?: unknown[] };
  response?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
}

/** Where a service lives. */
export interface ServiceRef {
  readonly project: string;
  readonly region: string;
  readonly service: string;
}

/**
 * What petcut's operations code asks of Cloud Run. Production's is a thin
 * REST client on google-auth-library (src/ops/cloudrun/rest.ts); tests drive
 * the same client against a loopback server speaking the same REST protocol.
 */
export interface CloudRun {
  getService(ref: ServiceRef): Promise<Service>;
  /**
   * Sends the service back whole (its etag included: a concurrent change gives
   * EtagConflictError, never a silent overwrite) and waits for the operation.
   * Returns the service as it is after the operation.
   */
  updateService(ref: ServiceRef, service: Service, options?: { readonly waitMs?: number }): Promise<Service>;
  listRevisions(ref: ServiceRef): Promise<Revision[]>;
  getRevision(ref: ServiceRef, revision: string): Promise<Revision>;
  /** Deletes a revision (and waits for the operation); a missing one is not an error. */
  deleteRevision(ref: ServiceRef, revision: string, options?: { readonly waitMs?: number }): Promise<void>;
  /** The calls made so far, one line each (`PATCH .../services/x`), for --dry-run and logs. */
  readonly calls?: readonly string[];
}
