// /v1/*: the Lambda REQUEST authorizer (bearer tokens with scopes); the logic lives in lib/api.
export { authorizerHandler as handler } from '../lib/api/authorizer.js';
