'use strict';
// The seeds' stack (Fastify + BullMQ) doing what the bench measures of ours, run by
// bench/peers/bullmq.py with one mode per process:
//   node peer.js api      POST /api/schedule-sms (seed body; Bearer API key) -> queue.add
//   node peer.js worker   a Worker (concurrency PEER_CONCURRENCY, default 50) POSTing each job
//                         to SMS_API_URL + callbackEndpoint ("/send-sms"), body = data + jobId
//   node peer.js fill N DELAY_MS [SPREAD_MS]   addBulk N seed SMS in chunks of 1,000, each due
//                         in DELAY_MS plus a uniform random 0..SPREAD_MS; prints {"count",
//                         "seconds"} as one JSON line
//   node peer.js burst N DUE_UNIX_MS [ID_PREFIX]   one addBulk of N seed SMS (job ids
//                         ID_PREFIX0..ID_PREFIX<N-1>, default burst-) all due at DUE_UNIX_MS: one
//                         creation timestamp and one delay for every job
//   node peer.js bulk CLIENTS BATCHES SIZE DELAY_MS   BATCHES addBulk calls of SIZE seed SMS due
//                         in DELAY_MS, from CLIENTS concurrent clients (one Queue and one
//                         connection each), in this process; prints {"count", "seconds"}
// Environment: REDIS_URL, PEER_PREFIX (BullMQ key prefix), PORT, API_KEYS, SMS_API_URL.
const { Queue, Worker } = require('bullmq');
const IORedis = require('ioredis');

const QUEUE = 'sms';
const PREFIX = process.env.PEER_PREFIX || 'qsbench-peer';
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const JOB_OPTIONS = { attempts: 5, backoff: { type: 'exponential', delay: 2000 } };

function connection() {
  return new IORedis(REDIS_URL, { maxRetriesPerRequest: null, enableReadyCheck: false });
}

function seedSms(i, delay) {
  return {
    phoneNumber: '+14155550123',
    message: 'Your appointment is tomorrow at 10:00. Reply STOP to opt out.',
    contactId: `contact-${i}`,
    workspaceId: 'workspace-bench',
    delay,
  };
}

function invalid(body) {
  if (!body || typeof body !== 'object') return 'body must be a JSON object';
  for (const name of ['phoneNumber', 'message', 'contactId', 'workspaceId']) {
    if (typeof body[name] !== 'string' || body[name] === '') return `${name} is required`;
  }
  if (body.delay !== undefined && (!Number.isInteger(body.delay) || body.delay < 0)) {
    return 'delay must be a non-negative integer (ms)';
  }
  return null;
}

async function api() {
  const fastify = require('fastify')({ logger: false });
  const queue = new Queue(QUEUE, { connection: connection(), prefix: PREFIX });
  const keys = new Set((process.env.API_KEYS || '').split(',').filter(Boolean));
  fastify.post('/api/schedule-sms', async (request, reply) => {
    const auth = request.headers.authorization || '';
    if (!keys.has(auth.replace(/^Bearer /, ''))) {
      return reply.code(401).send({ success: false, error: 'invalid API key' });
    }
    const problem = invalid(request.body);
    if (problem) return reply.code(400).send({ success: false, error: problem });
    const job = await queue.add('send-sms', request.body, {
      ...JOB_OPTIONS,
      delay: request.body.delay || 0,
    });
    return reply.code(202).send({ success: true, jobId: job.id, message: 'SMS scheduled successfully' });
  });
  await fastify.listen({ port: Number(process.env.PORT || 3000), host: '127.0.0.1' });
}

function worker() {
  const base = (process.env.SMS_API_URL || 'http://127.0.0.1:4000').replace(/\/$/, '');
  const concurrency = Number(process.env.PEER_CONCURRENCY || 50);
  const w = new Worker(
    QUEUE,
    async (job) => {
      const endpoint = (job.data.metadata && job.data.metadata.callbackEndpoint) || '/send-sms';
      const response = await fetch(base + endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...job.data, jobId: job.id }),
      });
      await response.arrayBuffer();
      if (!response.ok) throw new Error(`callback answered ${response.status}`);
      return { status: response.status };
    },
    { connection: connection(), prefix: PREFIX, concurrency },
  );
  w.on('error', (err) => console.error('ERROR worker', err.message));
  const stop = () => w.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

async function fill(count, delay, spread) {
  const queue = new Queue(QUEUE, { connection: connection(), prefix: PREFIX });
  const started = process.hrtime.bigint();
  for (let start = 0; start < count; start += 1000) {
    const jobs = [];
    for (let i = start; i < Math.min(count, start + 1000); i++) {
      const due = delay + (spread ? Math.floor(Math.random() * (spread + 1)) : 0);
      jobs.push({ name: 'send-sms', data: seedSms(i, due), opts: { ...JOB_OPTIONS, delay: due } });
    }
    await queue.addBulk(jobs);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(JSON.stringify({ count, seconds }));
  await queue.close();
}

async function burst(count, dueMs, idPrefix) {
  const queue = new Queue(QUEUE, { connection: connection(), prefix: PREFIX });
  const timestamp = Date.now();
  const delay = Math.max(0, dueMs - timestamp);
  const jobs = [];
  for (let i = 0; i < count; i++) {
    const opts = { ...JOB_OPTIONS, delay, timestamp, jobId: `${idPrefix}${i}` };
    jobs.push({ name: 'send-sms', data: seedSms(i, delay), opts });
  }
  const started = process.hrtime.bigint();
  await queue.addBulk(jobs);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(JSON.stringify({ count, seconds, delay }));
  await queue.close();
}

async function bulk(clients, batches, size, delay) {
  const queues = [];
  for (let c = 0; c < clients; c++) {
    const queue = new Queue(QUEUE, { connection: connection(), prefix: PREFIX });
    await queue.waitUntilReady();
    queues.push(queue);
  }
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    queues.map(async (queue) => {
      while (next < batches) {
        const batch = next++;
        const jobs = [];
        for (let i = 0; i < size; i++) {
          const data = seedSms(batch * size + i, delay);
          jobs.push({ name: 'send-sms', data, opts: { ...JOB_OPTIONS, delay } });
        }
        await queue.addBulk(jobs);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(JSON.stringify({ count: batches * size, seconds }));
}

const [mode, a, b, c, d] = process.argv.slice(2);
const modes = {
  api: () => api(),
  worker: () => worker(),
  // One-shot modes exit when done: the ioredis connection handed to the Queue stays open.
  fill: () => fill(Number(a), Number(b || 0), Number(c || 0)).then(() => process.exit(0)),
  burst: () => burst(Number(a), Number(b), c || 'burst-').then(() => process.exit(0)),
  bulk: () => bulk(Number(a), Number(b), Number(c), Number(d)).then(() => process.exit(0)),
};
if (!modes[mode]) {
  console.error(`usage: node peer.js api|worker|fill N DELAY_MS [SPREAD_MS]|burst N DUE_UNIX_MS|bulk CLIENTS BATCHES SIZE DELAY_MS`);
  process.exit(2);
}
Promise.resolve(modes[mode]()).catch((err) => {
  console.error('ERROR', err && err.stack ? err.stack : err);
  process.exit(1);
});
