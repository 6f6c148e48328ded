/** A small client of the Node-RED Admin HTTP API (no authentication), for the e2e tests and the benchmark. */

export interface FlowNode {
  id: string;
  type: string;
  z?: string;
  [key: string]: unknown;
}

export interface NodeSetInfo {
  id: string;
  name: string;
  types: string[];
  enabled: boolean;
  loaded: boolean;
  module: string;
  err?: string;
}

export class AdminClient {
  readonly base: string;

  constructor(url: string) {
    this.base = url.replace(/\/$/, '');
  }

  async request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; text: string; json: () => unknown }> {
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body === undefined ? undefined : typeof body === 'string' || body instanceof Uint8Array ? (body as string) : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, text, json: () => JSON.parse(text) as unknown };
  }

  private async ok(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<unknown> {
    const res = await this.request(method, path, body, headers);
    if (res.status >= 300) throw new Error(`${method} ${path}: HTTP ${res.status} ${res.text.slice(0, 300)}`);
    if (res.text === '') return undefined;
    try {
      return res.json();
    } catch {
      return res.text;
    }
  }

  /** GET /settings (Node-RED's runtime settings; proves the admin API is up). */
  settings(): Promise<Record<string, unknown>> {
    return this.ok('GET', '/settings') as Promise<Record<string, unknown>>;
  }

  /** The installed node sets (GET /nodes as JSON). */
  nodes(): Promise<NodeSetInfo[]> {
    return this.ok('GET', '/nodes', undefined, { accept: 'application/json' }) as Promise<NodeSetInfo[]>;
  }

  async flows(): Promise<FlowNode[]> {
    const v = (await this.ok('GET', '/flows', undefined, { 'Node-RED-API-Version': 'v1' })) as FlowNode[];
    return v;
  }

  /** Full deployment of `flows`; resolves with the new revision. */
  async deploy(flows: FlowNode[], type: 'full' | 'nodes' | 'flows' | 'reload' = 'full'): Promise<string> {
    const r = (await this.ok('POST', '/flows', { flows }, { 'Node-RED-API-Version': 'v2', 'Node-RED-Deployment-Type': type })) as { rev: string };
    return r.rev;
  }

  /** Presses an inject node's button (POST /inject/:id). */
  async inject(id: string): Promise<void> {
    await this.ok('POST', `/inject/${id}`);
  }

  /** Flow runtime state ('start' or 'stop'). */
  async flowState(): Promise<string> {
    const r = (await this.ok('GET', '/flows/state')) as { state: string };
    return r.state;
  }
}

/** Polls `check` until it returns a value other than undefined/false, or throws after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== null && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
