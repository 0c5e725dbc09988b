/**
 * The review console's static files, served by the admin function at /console (no authorizer: the
 * page holds no data; everything it shows comes from /v1 with the analyst's token). The files are
 * bundled into the function as text (serverless.yml esbuild loaders), so it works offline and needs
 * no CDN. A strict Content-Security-Policy allows only these same-origin files: no inline script or
 * style, no other origin, no framing.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import uplotCss from 'uplot/dist/uPlot.min.css';
import uplotJs from 'uplot/dist/uPlot.iife.min.js';
import appJs from './assets/app.browser.js';
import appCss from './assets/app.css';
import indexHtml from './assets/index.html';

export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';
const FILES: Readonly<Record<string, { body: string; type: string }>> = {
  '': { body: indexHtml, type: 'text/html; charset=utf-8' },
  'app.js': { body: appJs, type: JS },
  'app.css': { body: appCss, type: CSS },
  'uPlot.iife.min.js': { body: uplotJs, type: JS },
  'uPlot.min.css': { body: uplotCss, type: CSS },
};

const SECURITY_HEADERS = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
};

export const isConsolePath = (rawPath: string | undefined) => rawPath === '/console' || (rawPath ?? '').startsWith('/console/');

export function serveConsole(event: APIGatewayProxyEventV2): APIGatewayProxyStructuredResultV2 {
  const method = event.requestContext?.http?.method ?? 'GET';
  const name = (event.rawPath ?? '').replace(/^\/console\/?/, '');
  const file = FILES[name];
  const text = (statusCode: number, body: string, extra: Record<string, string> = {}) => ({
    statusCode,
    headers: { 'content-type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS, ...extra },
    body,
  });
  if (method !== 'GET' && method !== 'HEAD') return text(405, 'use GET', { allow: 'GET, HEAD' });
  if (!file) return text(404, `no console file ${name.slice(0, 100)}`);
  return {
    statusCode: 200,
    // Assets are small and change with a deploy: revalidate each time rather than pin a version in the URL.
    headers: { 'content-type': file.type, 'cache-control': 'no-cache', ...SECURITY_HEADERS },
    body: method === 'HEAD' ? '' : file.body,
  };
}

/** The admin function's handler: /console files, everything else to the /v1 API. */
export function withConsole<C>(api: (event: APIGatewayProxyEventV2, context?: C) => Promise<APIGatewayProxyStructuredResultV2>) {
  return async (event: APIGatewayProxyEventV2, context?: C): Promise<APIGatewayProxyStructuredResultV2> =>
    isConsolePath(event.rawPath) ? serveConsole(event) : api(event, context);
}
