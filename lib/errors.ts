/**
 * Every failure a request can meet, as a named class with its HTTP status and a stable code.
 * lib/http maps them to responses in one place; nothing else decides a status code.
 */
export abstract class RiskhookError extends Error {
  abstract readonly status: number;
  abstract readonly code: string;
  override get name(): string {
    return this.constructor.name;
  }
}

/** The body is not what the content type promises (unparseable JSON, broken form encoding). */
export class BodyParseError extends RiskhookError {
  readonly status = 400;
  readonly code = 'invalid_body';
}

/** A header is missing or malformed, a signature does not match, or the timestamp is outside the window. */
export class SignatureError extends RiskhookError {
  readonly status = 401;
  readonly code = 'invalid_signature';
}

/** No adapter serves this provider path. */
export class UnknownProviderError extends RiskhookError {
  readonly status = 404;
  readonly code = 'unknown_provider';
}

/** Only POST is served. */
export class MethodNotAllowedError extends RiskhookError {
  readonly status = 405;
  readonly code = 'method_not_allowed';
}

/** The body is larger than the configured limit; refused before any parsing. */
export class BodyTooLargeError extends RiskhookError {
  readonly status = 413;
  readonly code = 'body_too_large';
}

/** The body parsed but does not match the schema; the message names the field path. */
export class SchemaError extends RiskhookError {
  readonly status = 422;
  readonly code = 'schema_violation';
}

/** Redis (or whatever backs the store) failed or ran out of time. Never reaches the client: decide() degrades. */
export class StoreUnavailableError extends RiskhookError {
  readonly status = 503;
  readonly code = 'store_unavailable';
}

/** The store did not answer in time (our deadline, or the client's command timeout): a frozen or slow Redis. */
export class StoreTimeoutError extends StoreUnavailableError {}

/** Configuration (environment or policy file) is invalid. Thrown at cold start. */
export class ConfigError extends RiskhookError {
  readonly status = 500;
  readonly code = 'configuration_error';
}

/** Admin API: a query or body field is wrong; the message names it. */
export class InvalidRequestError extends RiskhookError {
  readonly status = 400;
  readonly code = 'invalid_request';
}

/** Admin API: no bearer token, or one that matches no configured token. */
export class UnauthorizedError extends RiskhookError {
  readonly status = 401;
  readonly code = 'unauthorized';
}

/** Admin API: the token lacks the route's scope. */
export class ForbiddenError extends RiskhookError {
  readonly status = 403;
  readonly code = 'forbidden';
}

/** Admin API: no such decision, review, list entry, route or failed delivery. */
export class NotFoundError extends RiskhookError {
  readonly status = 404;
  readonly code = 'not_found';
}

/** Admin API: a closed review asked to close another way. */
export class ReviewClosedError extends RiskhookError {
  readonly status = 409;
  readonly code = 'review_closed';
}
