// /v1/*: the admin API (decisions, reviews, lists, failed webhooks, audit), and /console: the review
// console's static files; the logic lives in lib/api and lib/console.
import { apiHandler } from '../lib/api/http.js';
import { withConsole } from '../lib/console/serve.js';

export const handler = withConsole(apiHandler);
