import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AppContext } from '../context.js';
import { PetcutError } from '../../errors.js';
import type { Job } from '../../service/jobs.js';
import type { JobEvent } from '../../service/progress.js';
import { parseCutoutOptions } from '../options.js';
import { CUTOUT_QUERY, errors, IMAGE_UPLOAD_BODY, JOB, JOB_PARAMS, SESSION_HEADER } from '../schemas.js';
import { superviseSocket } from '../socket.js';
import { readUpload } from '../upload.js';
import { reserveUpload, sessionFrom } from '../uploadRoom.js';
import { jobView } from '../views.js';
import { publicRoute, SESSION, storefront } from '../../security/routePolicy.js';
import { workOrigin } from '../workOrigin.js';

export function registerJobRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.post('/v1/jobs', {
    config: storefront('upload', SESSION),
    schema: {
      summary: 'Start a cut-out job for one or several photos',
      description: 'Returns 202 at once; follow progress on the events WebSocket or poll the job. Results are stored in the session (X-Session-ID, created when absent).',
      tags: ['jobs'],
      querystring: CUTOUT_QUERY,
      headers: SESSION_HEADER,
      'x-request-body': { ...IMAGE_UPLOAD_BODY, description: 'One or more photos as multipart fields "image" (repeat it, or use "images") plus option fields, or one raw image body.' },
      response: { 202: JOB, ...errors(400, 413, 415, 503) },
    },
  }, async (request, reply) => {
    // A job's results live in the store: while it is down, refuse before the body is read (503, Retry-After).
    ctx.storageHealth.require();
    // Room for the first file before the body is read, for each further one before its bytes (readUpload):
    // an accepted job is never refused later.
    const { reservation } = reserveUpload(ctx, request, 1, ctx.config.filesPerJob);
    let upload: Awaited<ReturnType<typeof readUpload>>;
    let options: ReturnType<typeof parseCutoutOptions>;
    try {
      upload = await readUpload(request, { maxFiles: ctx.config.filesPerJob, policy: ctx.uploadPolicy, keepRejected: true, reservation, pace: ctx.uploadPace });
      options = parseCutoutOptions({ ...(request.query as Record<string, string>), ...upload.fields });
    } catch (error) {
      reservation.release();
      throw error;
    }
    // After the body: a session_id form field is one of the places that can name it.
    const sessionId = sessionFrom(request, ctx, true)!;
    const reservations = upload.files.map(() => reservation.takeImage());
    const job = ctx.jobs.create({
      files: upload.files, outputs: options.outputs, selection: options.selection, sessionId, requestId: request.id, reservations, release: () => reservation.release(), origin: workOrigin(request, sessionId),
    });
    return reply.status(202).header('X-Session-ID', sessionId).header('Location', ctx.url(request, `/v1/jobs/${job.id}`)).send(jobView(ctx, request, job));
  });

  app.get('/v1/jobs/:jobId', {
    config: publicRoute(),
    schema: { summary: 'A job\'s status, progress and result URLs', tags: ['jobs'], params: JOB_PARAMS, response: { 200: JOB, ...errors(404) } },
  }, async (request) => jobView(ctx, request, await findJob(ctx, request)));

  app.get('/v1/jobs/:jobId/events', {
    config: publicRoute(),
    websocket: true,
    schema: {
      summary: 'WebSocket: the job\'s progress events',
      description: 'First message: {"type":"state", job} (the current state, also for late joiners). Then {"type":"stage", stage, percent, etaSeconds, file, of, message, position?, effect?} for queued, cache, decode, segmentation, refine, effect, encode, store; {"type":"error", code, message} per failed file; {"type":"complete", status} and the server closes. Send {"type":"ping"} for a pong.',
      tags: ['jobs'],
      params: JOB_PARAMS,
      'x-responses': { 101: { description: 'Switching to the WebSocket protocol.' }, ...errors(404) },
    },
    // Before the upgrade, so an unknown job is a plain HTTP 404 rather than an opened-then-closed socket.
    preValidation: async (request) => void await findJob(ctx, request),
  }, async (socket, request) => {
    let closed = false;
    let unsubscribe = (): void => undefined;
    const channel = superviseSocket(socket, { pingMs: ctx.config.wsPingMs, onClose: () => { closed = true; unsubscribe(); } });
    const forward = (event: JobEvent, job: Job): void => {
      channel.send(event.type === 'complete' ? { ...event, job: jobView(ctx, request, job) } : event);
      if (event.type === 'complete') channel.close(1000, 'job finished');
    };
    const jobId = (request.params as { jobId: string }).jobId;
    const own = ctx.jobs.get(jobId);
    // This instance's job: the state and the subscription in one step, as ever. Another's (through Redis):
    // subscribed before its state is read, so no stage is missed in between.
    // Redis lost while following another instance's job: 1013 (try again later), so the client reconnects or polls.
    const followed = own ? { job: own, unsubscribe: ctx.jobs.subscribe(jobId, (event) => forward(event, own)) }
      : await ctx.jobs.follow(jobId, forward, () => channel.close(1013, 'job state unavailable'));
    if (!followed) {
      // Known a moment ago (preValidation), gone now: Redis went away in between.
      channel.close(1011, 'job state unavailable');
      return;
    }
    unsubscribe = followed.unsubscribe;
    if (closed) unsubscribe();
    const { job } = followed;
    channel.send({ type: 'state', job: jobView(ctx, request, job) });
    if (job.status === 'succeeded' || job.status === 'failed') {
      unsubscribe();
      channel.send(job.last);
      channel.close(1000, 'job finished');
    }
  });
}

async function findJob(ctx: AppContext, request: FastifyRequest): Promise<Job> {
  const job = await ctx.jobs.find((request.params as { jobId: string }).jobId);
  if (!job) throw new PetcutError('PETCUT_E_JOB_NOT_FOUND');
  return job;
}
