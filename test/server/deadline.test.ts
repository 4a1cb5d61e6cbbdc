import type { FastifyInstance, FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { errors } from '../../src/errors.ts';
import { deadlineFor } from '../../src/server/routes/work-context.ts';
import { loadConfig } from '../../src/server/config.ts';

const app = { config: loadConfig({ REQUEST_TIMEOUT_MS: '2000', MAX_REQUEST_TIMEOUT_MS: '5000' }) } as FastifyInstance;
const request = (headers: Record<string, string>, query: Record<string, unknown> = {}) =>
  ({ headers, query }) as unknown as FastifyRequest;

describe('deadlineFor', () => {
  it('uses REQUEST_TIMEOUT_MS when the request names no deadline', () => {
    expect(deadlineFor(app, request({}))).toBe(2000);
  });

  it('takes X-Request-Timeout-Ms, else ?timeout_ms=', () => {
    expect(deadlineFor(app, request({ 'x-request-timeout-ms': '300' }, { timeout_ms: 400 }))).toBe(300);
    expect(deadlineFor(app, request({}, { timeout_ms: 400 }))).toBe(400);
  });

  it('caps it at MAX_REQUEST_TIMEOUT_MS', () => {
    expect(deadlineFor(app, request({ 'x-request-timeout-ms': '60000' }))).toBe(5000);
  });

  it.each(['0', '-5', '1.5', 'soon', ''])('refuses %j with INVALID_PARAMETER', (value) => {
    expect(() => deadlineFor(app, request({ 'x-request-timeout-ms': value }))).toThrow(errors.INVALID_PARAMETER);
  });
});
