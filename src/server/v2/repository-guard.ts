// Who may load and unload models. These routes make the server read files and start threads, the
// kind of management API behind TorchServe's "ShellTorch" advisories (CVE-2023-43654: a
// management API open to the network, loading models from where a request said), so they are
// closed unless asked for and restricted when open:
// - they exist only with MODEL_CONTROL_MODE=explicit (403 MODEL_CONTROL_DISABLED otherwise);
// - requests from a browser (any Origin header) are refused: a page on another site could
//   otherwise post to a loopback server, or reach it by DNS rebinding;
// - with REPOSITORY_API_TOKEN set they need "Authorization: Bearer <token>" (compared in constant
//   time), as Triton's --http-restricted-api guards them with a header; without a token they
//   answer loopback clients only (the socket's address: X-Forwarded-For is not trusted).
// The REST routes check in onRequest, before the body is read; the gRPC RPCs before they act.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errors } from '../../errors.ts';
import type { Config } from '../config.ts';

type GuardConfig = Pick<Config, 'modelRepository' | 'modelControlMode' | 'repositoryApiToken'>;

const BEARER = /^Bearer +(\S+)$/i;

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** Whether the Authorization header carries exactly this bearer token (constant time in the token). */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const presented = BEARER.exec(header ?? '')?.[1];
  // Comparing digests keeps the comparison constant-time even when the lengths differ.
  return presented !== undefined && timingSafeEqual(digest(presented), digest(token));
}

/** 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6 addresses. */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return address === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

function controlMode(config: GuardConfig): string {
  return config.modelRepository === undefined ? 'single-model (no MODEL_REPOSITORY)' : config.modelControlMode;
}

/** Who asks: what every transport can tell about the caller of a management request. */
export interface Caller {
  /** The Authorization header, or gRPC `authorization` metadata. */
  readonly authorization: string | undefined;
  /** Whether the request carries an Origin (a browser sent it). */
  readonly hasOrigin: boolean;
  /** The peer's IP address, from the socket. */
  readonly remoteAddress: string | undefined;
}

/** Throws unless this caller may load and unload models (the REST routes and the gRPC RPCs alike). */
export function authorizeManagement(config: GuardConfig, caller: Caller): void {
  if (config.modelRepository === undefined || config.modelControlMode !== 'explicit')
    throw errors.MODEL_CONTROL_DISABLED(controlMode(config));
  if (caller.hasOrigin) throw errors.ORIGIN_REFUSED();
  const token = config.repositoryApiToken;
  if (token !== undefined) {
    if (bearerMatches(caller.authorization, token)) return;
    throw errors.UNAUTHORIZED();
  }
  if (!isLoopback(caller.remoteAddress)) throw errors.LOOPBACK_ONLY();
}

/** onRequest hook of the load and unload routes. */
export function managementGuard(config: GuardConfig) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    try {
      authorizeManagement(config, {
        authorization: request.headers.authorization,
        hasOrigin: request.headers.origin !== undefined,
        remoteAddress: request.socket.remoteAddress,
      });
    } catch (err) {
      if ((err as { code?: unknown }).code === 'UNAUTHORIZED')
        reply.header('www-authenticate', 'Bearer realm="model repository"');
      throw err;
    }
  };
}
