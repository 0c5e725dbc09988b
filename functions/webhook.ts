// POST /webhooks/{provider}: the whole request path lives in lib/.
export { webhookHandler as handler } from '../lib/http.js';
