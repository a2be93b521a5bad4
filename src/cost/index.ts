import type { ProcessObserver } from '../observability/work.js';
import type { ObjectStore } from '../storage/store.js';
import type { CostConfig } from './config.js';
import { ledgerSink, openLedger } from './ledger.js';
import type { Ledger } from './ledger.js';
import { createCostMeter, instanceId } from './meter.js';
import type { CostMeter } from './meter.js';

export type { CostConfig } from './config.js';
export type { CostMeter, CostTotals } from './meter.js';

/** Where instances' ledger copies live in the bucket (no lifecycle rule covers it). */
export const LEDGER_PREFIX = 'cost/ledgers/';

export interface CostTracking {
  readonly meter: CostMeter;
  /** The ledger file this instance writes (undefined when PETCUT_COST_LEDGER=off). */
  readonly ledgerPath?: string;
  /** Charges each photo's processing to its shop and session. */
  readonly observer: ProcessObserver;
  /** Writes the rest of the ledger, uploads its last copy and closes it (graceful shutdown). */
  close(): Promise<void>;
}

export interface CostTrackingOptions {
  readonly log: (message: string, error?: unknown) => void;
  readonly now?: () => number;
  /** Cloud storage for the ledger's copies (an instance's own disk does not outlive it on Cloud Run). */
  readonly store?: ObjectStore;
}

/** The meter, its ledger, the flush timer and the uploads, as the app runs them. */
export function createCostTracking(config: CostConfig, options: CostTrackingOptions): CostTracking {
  const instance = instanceId();
  const ledgerPath = config.ledger?.replaceAll('{instance}', instance);
  let ledger: Ledger | undefined;
  try {
    ledger = ledgerPath ? openLedger(ledgerPath) : undefined;
  } catch (error) {
    // The metrics still count: a broken disk must not stop the service or its cost counters.
    options.log(`cost ledger ${ledgerPath} cannot be opened: costs are counted in the metrics only`, error);
  }
  const meter = createCostMeter({
    instance, billing: config.billing, requestFee: config.requestFee, rates: () => config.rates, now: options.now,
    sink: ledger ? ledgerSink(ledger, (error) => options.log(`cost ledger ${ledgerPath} write failed: entries are kept for the next flush`, error)) : undefined,
  });
  const timers = [setInterval(() => meter.flush(), config.flushMs)];
  const upload = ledger && options.store && config.uploadMs > 0 ? ledgerUpload(ledger, options.store, `${LEDGER_PREFIX}${instance}.sqlite`, options.log) : undefined;
  if (upload) timers.push(setInterval(() => void upload(), config.uploadMs));
  timers.forEach((timer) => timer.unref());
  return {
    meter,
    ledgerPath: ledger ? ledgerPath : undefined,
    observer: {
      begin(request) {
        const ticket = meter.begin(request.origin);
        return {
          end: ({ outcome }) => ticket.end(outcome ? 1 : 0, outcome && {
            cache: outcome.cache,
            outputs: outcome.outputs?.map((o) => ({ effect: o.effect, format: o.spec.format ?? 'png', pixels: o.width * o.height })),
          }),
        };
      },
    },
    async close() {
      timers.forEach((timer) => clearInterval(timer));
      meter.close();
      await upload?.();
      ledger?.close();
    },
  };
}

/**
 * Uploads a copy of the ledger. Uploads run one after another (the last one,
 * at shutdown, starts after any still running, so it holds every entry); a
 * failure is logged once until an upload works again.
 */
function ledgerUpload(ledger: Ledger, store: ObjectStore, key: string, log: CostTrackingOptions['log']): () => Promise<void> {
  let queue = Promise.resolve();
  let failing = false;
  const once = async (): Promise<void> => {
    try {
      await store.put(key, ledger.snapshot(), { contentType: 'application/vnd.sqlite3', metadata: { kind: 'cost-ledger' } });
      failing = false;
    } catch (error) {
      if (!failing) log(`cost ledger upload to ${key} failed: the next one retries`, error);
      failing = true;
    }
  };
  return () => (queue = queue.then(once));
}
