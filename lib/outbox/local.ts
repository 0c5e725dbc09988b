/**
 * Under `npm start` merchant webhooks go out every 2 s from the local process (on AWS the deliver
 * function runs every minute). Once per process: every locally bundled function shares it.
 */
import { logger } from '../observability.js';
import type { OpsContext } from '../operations/context.js';
import { DEFAULT_DELIVERY, deliverDue } from './deliver.js';

const STARTED = Symbol.for('riskhook.localDelivery');
export const LOCAL_DELIVERY_INTERVAL_MS = 2_000;

export function startLocalDelivery(ctx: OpsContext): void {
  const g = globalThis as { [STARTED]?: boolean };
  if (g[STARTED] || !ctx.config.merchantWebhook) return;
  g[STARTED] = true;
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    deliverDue(ctx, { ...DEFAULT_DELIVERY, timeoutMs: 5_000 })
      .then((report) => {
        if (report.delivered + report.retrying + report.failed > 0) logger.info('merchant webhooks', { ...report });
      })
      .catch((error: Error) => logger.warn('merchant webhooks: delivery run failed', { reason: error.message }))
      .finally(() => {
        running = false;
      });
  }, LOCAL_DELIVERY_INTERVAL_MS);
  timer.unref();
}
