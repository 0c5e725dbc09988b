/**
 * A real local HTTP receiver for merchant webhooks, told how to answer: ok (204), fail (500), gone
 * (410) or hang (never answers, until stopped). It records every request it gets.
 */
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ReceiverMode = 'ok' | 'fail' | 'gone' | 'hang';

export interface Received {
  readonly headers: Record<string, string>;
  readonly body: string;
}

export interface Receiver {
  readonly url: string;
  mode: ReceiverMode;
  readonly received: Received[];
  stop(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  const hanging = new Set<ServerResponse>();
  const state = { mode: 'ok' as ReceiverMode };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
      received.push({ headers, body: Buffer.concat(chunks).toString('utf8') });
      if (state.mode === 'hang') {
        hanging.add(res);
        return;
      }
      res.statusCode = state.mode === 'ok' ? 204 : state.mode === 'gone' ? 410 : 500;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/riskhook`,
    get mode() {
      return state.mode;
    },
    set mode(m: ReceiverMode) {
      state.mode = m;
    },
    received,
    async stop() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
