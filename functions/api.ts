// /v1/*: the admin API (decisions, reviews, lists, failed webhooks, audit); the logic lives in lib/api.
export { apiHandler as handler } from '../lib/api/http.js';
