/** The delivery run the scheduled function (and the local interval under `npm start`) performs. */
import { logger } from '../observability.js';
import { type Runtime, getRuntime } from '../runtime.js';
import { DEFAULT_DELIVERY, type DeliveryReport, deliverDue } from './deliver.js';

export async function runDelivery(runtime: Runtime = getRuntime()): Promise<DeliveryReport> {
  const report = await deliverDue(runtime.operations.ctx, DEFAULT_DELIVERY);
  if (report.delivered + report.retrying + report.failed > 0 || report.disabled) logger.info('merchant webhooks', { ...report });
  return report;
}

export const deliverHandler = async (): Promise<DeliveryReport> => runDelivery();
