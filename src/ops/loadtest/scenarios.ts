// What one simulated request does, by name: the profiles file refers to these, and
// this list is the only one (the schema, the help and the docs read it).
export const SCENARIOS = {
  'healthz': 'GET /healthz (the trivial endpoint; the generator-capacity probe uses it too)',
  'warmup': 'POST /warmup (the storefront pings it when a shopper opens the customiser)',
  'preview': 'POST /v1/cutouts?size=preview&format=webp: a preview cut-out',
  'full': 'POST /v1/cutouts (full-size PNG): the print render',
  'effect': 'POST /v1/cutouts?size=preview&effects=<effect>: a preview in a print style',
  'job': 'POST /v1/jobs, follow /v1/jobs/:id/events on a WebSocket to "complete", fetch the result',
  'session-store': 'POST /v1/sessions/<id>/images: store an original in the shopper\'s session',
  'effects-list': 'GET /v1/effects: the style picker',
} as const;

export type ScenarioName = keyof typeof SCENARIOS;
export const SCENARIO_NAMES = Object.keys(SCENARIOS) as [ScenarioName, ...ScenarioName[]];

/** Scenarios that upload a photo (their latency is the warm-latency SLO's). */
export const UPLOADING: ReadonlySet<ScenarioName> = new Set(['preview', 'full', 'effect', 'job', 'session-store']);
