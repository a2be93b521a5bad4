import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { PetcutError } from '../../errors.js';
import { EFFECTS } from '../../effects/registry.js';
import { errors } from '../schemas.js';
import { publicRoute } from '../../security/routePolicy.js';

export function registerResultRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/v1/results/:key', {
    config: publicRoute(),
    schema: {
      summary: 'A cached render by its content key (URLs in JSON responses point here)',
      description: 'Content-addressed: the bytes behind a key never change, so responses are cacheable; keys expire with the cache.',
      tags: ['cutouts'],
      params: { type: 'object', required: ['key'], properties: { key: { type: 'string', pattern: '^[0-9a-f]{64}$' } } },
      'x-responses': { 200: { description: 'The image bytes.', content: { 'image/*': { schema: { type: 'string', format: 'binary' } } } } },
      response: errors(400, 404, 503),
    },
  }, async (request, reply) => {
    const { key } = request.params as { key: string };
    const render = await ctx.cache.getRender(key);
    if (!render) throw new PetcutError('PETCUT_E_RESULT_NOT_FOUND');
    return reply.type(render.contentType).header('Cache-Control', 'public, max-age=86400, immutable')
      .header('X-Image-Width', render.width).header('X-Image-Height', render.height).send(render.data);
  });

  app.get('/v1/effects', {
    config: publicRoute(),
    schema: {
      summary: 'The print styles: label, description, parameters (type, range, default) and a preview image URL',
      tags: ['effects'],
      response: {
        200: {
          type: 'object',
          properties: {
            effects: {
              type: 'array',
              items: {
                type: 'object',
                properties: { name: { type: 'string' }, label: { type: 'string' }, description: { type: 'string' }, previewUrl: { type: 'string' }, parameters: { type: 'object', additionalProperties: true } },
              },
            },
          },
        },
      },
    },
  }, async (request) => ({
    effects: Object.values(EFFECTS).map(({ name, label, description, parameters }) => ({
      name, label, description, parameters, previewUrl: ctx.url(request, `/v1/effects/${name}/preview.png`),
    })),
  }));

  app.get('/v1/effects/:name/preview.png', {
    config: publicRoute(),
    schema: {
      summary: 'A 256 px preview of a style on the built-in sample pet (for the style picker)',
      tags: ['effects'],
      params: { type: 'object', required: ['name'], properties: { name: { type: 'string', maxLength: 64 } } },
      'x-responses': { 200: { description: 'PNG with transparency.', content: { 'image/png': { schema: { type: 'string', format: 'binary' } } } } },
      response: errors(400, 503),
    },
  }, async (request, reply) => {
    const { name } = request.params as { name: string };
    const png = await ctx.effectPreviews.get(name);
    return reply.type('image/png').header('Cache-Control', 'public, max-age=86400').send(png);
  });
}
