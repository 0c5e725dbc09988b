// Scheduled every minute: sends due merchant webhooks (review.opened, .released, .confirmed_fraud).
export { deliverHandler as handler } from '../lib/outbox/run.js';
