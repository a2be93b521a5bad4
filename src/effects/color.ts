import type { Effect } from './types.js';

/** The cut-out as photographed. */
export const colorEffect: Effect = {
  name: 'color',
  label: 'Color',
  description: 'The cut-out in its original colours.',
  parameters: {},
  apply: (image) => Promise.resolve(image),
};
