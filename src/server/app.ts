// buildApp(config, deps?) assembles the service and never listens (main.ts does). One plugin per
// concern, in the order a request meets them: the error handler, connections that never carry a
// request (closed at once on close), request ids and the log line,
// security headers, CORS, metrics, the model registry, then the routes: predict, V2 (with the
// model repository extension), docs, upload page.
import type { Socket } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import type { DestinationStream } from 'pino';
import { errors } from '../errors.ts';
import type { Lifecycle } from './classifier/registry.ts';
import type { Config } from './config.ts';
import { corsPlugin } from './plugins/cors.ts';
import { docsPlugin } from './plugins/docs.ts';
import { errorHandlerPlugin, frameworkErrorHandler } from './plugins/error-handler.ts';
import { metricsPlugin } from './plugins/metrics.ts';
import { modelRegistryPlugin } from './plugins/model-registry.ts';
import { OneLinePerRequest, requestIdFor, requestLogPlugin } from './plugins/request-log.ts';
import { securityHeadersPlugin } from './plugins/security-headers.ts';
import { unusedConnectionsPlugin } from './plugins/unused-connections.ts';
import { predictRoutes } from './routes/predict.ts';
import { uploadPageRoutes } from './routes/upload-page.ts';
import { v2Routes } from './v2/routes.ts';

export type { Lifecycle };

export interface AppDeps {
  /** Shared with main.ts, which starts draining on SIGTERM before closing the app. */
  lifecycle?: Lifecycle;
  /** Where log lines go (stdout unless given). */
  logStream?: DestinationStream;
  /** The inference worker's entry module for every engine (EngineOptions.workerModule). */
  workerModule?: URL;
}

export async function buildApp(config: Config, deps: AppDeps = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: {
      level: config.logLevel,
      base: { service: 'resnet-serve' },
      ...(deps.logStream ? { stream: deps.logStream } : {}),
    },
    genReqId: requestIdFor,
    logController: new OneLinePerRequest(),
    // Slow clients: the whole request must arrive within BODY_TIMEOUT_MS (Node's requestTimeout,
    // checked every second instead of Node's default 30 s; answered by clientErrorHandler).
    requestTimeout: config.bodyTimeoutMs,
    http: {
      connectionsCheckingInterval: Math.min(1000, config.bodyTimeoutMs),
      headersTimeout: Math.min(60_000, config.bodyTimeoutMs),
    },
    clientErrorHandler: clientErrorHandler,
    // Draining is answered by our own gate with SHUTTING_DOWN and Retry-After.
    return503OnClosing: false,
    bodyLimit: config.maxBodyBytes,
    routerOptions: { ignoreTrailingSlash: true },
    // URLs that do not decode get a registry error too, not fastify's own body.
    frameworkErrors: frameworkErrorHandler(config),
  });
  app.decorate('config', config);

  await app.register(errorHandlerPlugin);
  await app.register(unusedConnectionsPlugin);
  await app.register(requestLogPlugin);
  await app.register(securityHeadersPlugin);
  await app.register(corsPlugin, { origin: config.corsOrigin });
  await app.register(metricsPlugin);
  await app.register(modelRegistryPlugin, {
    lifecycle: deps.lifecycle ?? { shuttingDown: false },
    workerModule: deps.workerModule,
  });
  await app.register(docsPlugin);

  await app.register(predictRoutes);
  await app.register(v2Routes, { prefix: '/v2' });
  await app.register(uploadPageRoutes);
  return app;
}

function errorBody(err: { code: string; message: string }): string {
  return JSON.stringify({ error: { code: err.code, message: err.message } });
}

/** Errors Node raises before a request reaches fastify: a body too slow (408) or a malformed request (400). */
function clientErrorHandler(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
  const status = timeout ? '408 Request Timeout' : '400 Bad Request';
  const error = timeout ? errors.REQUEST_TIMEOUT() : errors.MALFORMED_BODY('the HTTP request does not parse');
  const body = errorBody(error);
  this.log.debug({ code: err.code }, 'client error');
  if (socket.writable) {
    const headers = [
      `Content-Type: application/json`,
      `Content-Length: ${Buffer.byteLength(body)}`,
      `X-Error-Code: ${error.code}`,
      'Connection: close',
    ];
    socket.write(`HTTP/1.1 ${status}\r\n${headers.join('\r\n')}\r\n\r\n${body}`);
  }
  socket.destroy();
}
