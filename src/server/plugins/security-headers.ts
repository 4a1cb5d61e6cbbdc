// Security headers on every response. API responses get a CSP that allows nothing (they are
// data, never documents); the upload page and the docs set their own CSP, which is kept.
import type { FastifyReply } from 'fastify';
import fp from 'fastify-plugin';

const HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=()',
};
const API_CSP = "default-src 'none'; frame-ancestors 'none'";

/** Sets every header the route has not set itself (also called for errors answered before routing). */
export function applySecurityHeaders(reply: FastifyReply): void {
  for (const [name, value] of Object.entries(HEADERS)) {
    if (!reply.hasHeader(name)) reply.header(name, value);
  }
  if (!reply.hasHeader('content-security-policy')) reply.header('content-security-policy', API_CSP);
}

export const securityHeadersPlugin = fp(
  async (app) => {
    app.addHook('onSend', async (_request, reply, payload) => {
      applySecurityHeaders(reply);
      return payload;
    });
  },
  { name: 'security-headers' },
);
