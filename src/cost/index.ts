import type { ProcessObserver } from '../service/processing.js';
import type { CostConfig } from './config.js';
import { ledgerSink, openLedger } from './ledger.js';
import type { Ledger } from './ledger.js';
import { createCostMeter, instanceId } from './meter.js';
import type { CostMeter } from './meter.js';

export type { CostConfig } from './config.js';
export type { CostMeter, CostTotals } from './meter.js';

export interface CostTracking {
  readonly meter: CostMeter;
  /** The ledger file this instance writes (undefined when PETCUT_COST_LEDGER=off). */
  readonly ledgerPath?: string;
  /** Charges each photo's processing to its shop and session. */
  readonly observer: ProcessObserver;
  /** Writes the rest of the ledger and closes it (graceful shutdown). */
  close(): void;
}

/** The meter, its ledger and the flush timer, as the app runs them. */
export function createCostTracking(config: CostConfig, options: { log: (message: string, error?: unknown) => void; now?: () => number }): CostTracking {
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
  const timer = setInterval(() => meter.flush(), config.flushMs);
  timer.unref();
  return {
    meter,
    ledgerPath: ledger ? ledgerPath : undefined,
    observer: {
      done: () => undefined,
      failed: () => undefined,
      waited: () => undefined,
      begin(request) {
        const ticket = meter.begin(request.origin);
        return { end: (result) => ticket.end(result.outcome ? 1 : 0) };
      },
    },
    close() {
      clearInterval(timer);
      meter.close();
      ledger?.close();
    },
  };
}
