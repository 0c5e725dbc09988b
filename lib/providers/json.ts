/**
 * Strict JSON for signed bodies: what the signer signed is read in exactly one way.
 *
 * JSON.parse alone is lenient where a risk scorer must not be: it decodes invalid UTF-8 to U+FFFD
 * (two different signed byte strings, one identifier), keeps the last of duplicate keys (another
 * reader may keep the first), accepts `__proto__` as a key and lone surrogates in strings (which
 * hash like U+FFFD), and reads 1e3, 1.0 and -0 as integers (and 9007199254740990.5 as one).
 * So, as I-JSON (RFC 7493) asks: UTF-8 only, no duplicate keys, no lone surrogates, plus no
 * `__proto__` key; and the integer fields named by the caller written as plain digits.
 */
import { BodyParseError, SchemaError } from '../errors.js';

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const PLAIN_INTEGER = /^-?(?:0|[1-9]\d*)$/;
const LONE_SURROGATE = /\p{Cs}/u;

export interface StrictJsonOptions {
  /** Names the body in messages: "body", "resource: decrypted transaction". */
  readonly what?: string;
  /** Dotted paths of object keys (e.g. "amount.minor") where an integer must be written as plain digits. */
  readonly integerPaths?: readonly string[];
  /** Prefixed to those paths in messages (e.g. "transaction."). */
  readonly pathPrefix?: string;
}

/** UTF-8 bytes to a JSON value; BodyParseError (400) or, for an integer written otherwise, SchemaError (422). */
export function parseStrictJson(bytes: Uint8Array, options: StrictJsonOptions = {}): unknown {
  const { value, notInteger } = readStrictJson(bytes, options);
  if (notInteger) throw notInteger;
  return value;
}

/**
 * The same, but an integer written otherwise at one of `integerPaths` is returned, not thrown: for a
 * caller that learns only from the value whether that field matters (a Stripe event that is not an
 * authorization request is acknowledged, whatever its amount).
 */
export function readStrictJson(bytes: Uint8Array, options: StrictJsonOptions = {}): { value: unknown; notInteger?: SchemaError } {
  const what = options.what ?? 'body';
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    throw new BodyParseError(`${what} is not valid UTF-8`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    // Only the position: V8's message quotes the text around the error, which can be an identifier.
    const position = /position (\d+)/.exec((error as Error).message)?.[1];
    throw new BodyParseError(`${what} is not valid JSON${position ? ` (at byte offset near ${position})` : ''}`);
  }
  const notInteger = checkJsonText(text, what, options.integerPaths ?? [], options.pathPrefix ?? '');
  return notInteger ? { value, notInteger } : { value };
}

/** 0-9 + - . e E */
const isNumberChar = (c: number) => (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e || c === 0x65 || c === 0x45;

interface Frame {
  /** The keys seen so far (an object), or undefined (an array). */
  readonly keys: Set<string> | undefined;
  /** The current key or index. */
  at: string | number;
}

/** The path of the current value, as describeIssues writes paths, for a message (cut short: depth is unbounded). */
function pathOf(stack: readonly Frame[]): string {
  const path = stack
    .map((f) => (typeof f.at === 'number' ? `[${f.at}]` : f.at))
    .join('.')
    .replace(/\.\[/g, '[');
  return path.length > 80 ? `${path.slice(0, 80)}...` : path;
}

/** Walks text that JSON.parse accepted (so its syntax is known to be right), iteratively: any depth. */
/** Throws BodyParseError for text that is not strict I-JSON; returns the first integer at `integerPaths` written otherwise. */
function checkJsonText(text: string, what: string, integerPaths: readonly string[], prefix: string): SchemaError | undefined {
  const stack: Frame[] = [];
  const targets = integerPaths.map((p) => p.split('.'));
  let notInteger: SchemaError | undefined;
  let expectKey = false;
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x7b /* { */) {
      stack.push({ keys: new Set(), at: '' });
      expectKey = true;
      i++;
    } else if (c === 0x5b /* [ */) {
      stack.push({ keys: undefined, at: 0 });
      expectKey = false;
      i++;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      i++;
    } else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1]!;
      if (top.keys) expectKey = true;
      else top.at = (top.at as number) + 1;
      i++;
    } else if (c === 0x3a /* : */) {
      expectKey = false;
      i++;
    } else if (c === 0x22 /* " */) {
      // The closing quote: the next one not escaped (preceded by an even run of backslashes).
      let j = text.indexOf('"', i + 1);
      for (;;) {
        let b = j - 1;
        while (text.charCodeAt(b) === 0x5c /* \ */) b--;
        if ((j - 1 - b) % 2 === 0) break;
        j = text.indexOf('"', j + 1);
      }
      const escaped = text.slice(i + 1, j).includes('\\');
      // Text decoded from UTF-8 has no lone surrogate: only a \uD8xx escape can make one.
      const s = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j);
      const top = stack[stack.length - 1];
      const isKey = expectKey && top?.keys !== undefined;
      // A key is placed by its object's path, a value by its own (computed only for a message: depth is unbounded).
      const place = () => pathOf(isKey ? stack.slice(0, -1) : stack);
      if (escaped && LONE_SURROGATE.test(s)) {
        const at = place();
        throw new BodyParseError(`${what}: ${isKey ? 'a key' : 'a string'}${at ? ` at ${at}` : ''} holds a lone surrogate (\\uD800-\\uDFFF), not text`);
      }
      if (isKey) {
        if (s === '__proto__') {
          const at = place();
          throw new BodyParseError(`${what}: the key "__proto__"${at ? ` in ${at}` : ''} is not allowed`);
        }
        if (top!.keys!.has(s)) {
          const at = place();
          throw new BodyParseError(`${what}: the key "${(at ? `${at}.${s}` : s).slice(0, 64)}" appears more than once`);
        }
        top!.keys!.add(s);
        top!.at = s;
      }
      i = j + 1;
    } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      let j = i + 1;
      while (j < n && isNumberChar(text.charCodeAt(j))) j++;
      const target = targets.find((t) => t.length === stack.length && t.every((key, k) => stack[k]!.at === key));
      if (target) {
        const lexeme = text.slice(i, j);
        // An integer value written otherwise (1e3, 1.0, -0, 9007199254740990.5 rounded): a fraction such
        // as 12.5 is left to the schema's own message. Reported once the whole text is known to be
        // strict JSON (a 400 comes before a 422).
        if ((!PLAIN_INTEGER.test(lexeme) || lexeme === '-0') && Number.isInteger(Number(lexeme))) {
          notInteger ??= new SchemaError(`${prefix}${target.join('.')}: expected whole minor units written as plain digits (no fraction, exponent or -0), got ${lexeme.slice(0, 32)}`);
        }
      }
      i = j;
    } else {
      i++; // whitespace, true, false, null
    }
  }
  return notInteger;
}
