import type pg from 'pg';

type Db = Pick<pg.Pool, 'query'>;

/** What the workers of a task queue serve, as they publish it at start. */
export interface WorkerCatalog {
  taskQueue: string;
  defaultModel: string;
  models: string[];
  tools: string[];
  /**
   * The fingerprint (sha256 of name, description, input schema) of each tool that has one (an MCP server's), by
   * name, as the worker offers it now; a tool its server no longer lists has none. For operators: starts never
   * read it. @default {}
   */
  toolFingerprints?: Record<string, string>;
}

/** Publishes what a worker serves (upsert: workers of one task queue share one configuration; the last start wins). */
export async function publishCatalog(db: Db, catalog: WorkerCatalog): Promise<void> {
  await db.query(
    `INSERT INTO worker_catalogs (task_queue, default_model, models, tools, tool_fingerprints)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (task_queue) DO UPDATE
       SET default_model = EXCLUDED.default_model, models = EXCLUDED.models, tools = EXCLUDED.tools,
           tool_fingerprints = EXCLUDED.tool_fingerprints, updated_at = now()`,
    [
      catalog.taskQueue,
      catalog.defaultModel,
      JSON.stringify(catalog.models),
      JSON.stringify(catalog.tools),
      JSON.stringify(catalog.toolFingerprints ?? {}),
    ],
  );
}

/** The published catalog of a task queue; `undefined` while no worker has published one. */
export async function readCatalog(db: Db, taskQueue: string): Promise<WorkerCatalog | undefined> {
  const { rows } = await db.query<{
    default_model: string;
    models: string[];
    tools: string[];
    tool_fingerprints: Record<string, string>;
  }>(`SELECT default_model, models, tools, tool_fingerprints FROM worker_catalogs WHERE task_queue = $1`, [taskQueue]);
  const row = rows[0];
  return (
    row && {
      taskQueue,
      defaultModel: row.default_model,
      models: row.models,
      tools: row.tools,
      toolFingerprints: row.tool_fingerprints,
    }
  );
}

/**
 * {@link readCatalog} cached for a few seconds per task queue, so starts cost no extra query each. A worker that
 * restarts with another configuration is seen within `ttlMs`; until then the workflow's own check still holds.
 */
export class CatalogCache {
  private readonly entries = new Map<string, { at: number; catalog: Promise<WorkerCatalog | undefined> }>();

  /** @param ttlMs how long a read is reused. @default 5000 */
  constructor(
    private readonly db: Db,
    private readonly ttlMs = 5_000,
  ) {}

  /** The catalog of `taskQueue`, read again unless read within `ttlMs` (or always with `fresh`). */
  get(taskQueue: string, opts: { fresh?: boolean } = {}): Promise<WorkerCatalog | undefined> {
    const now = Date.now();
    const entry = this.entries.get(taskQueue);
    if (entry && !opts.fresh && now - entry.at < this.ttlMs) return entry.catalog;
    const catalog = readCatalog(this.db, taskQueue);
    this.entries.set(taskQueue, { at: now, catalog });
    // A failed read is not cached.
    catalog.catch(() => this.entries.delete(taskQueue));
    return catalog;
  }

  /**
   * Why `request` asks for something the workers of `taskQueue` do not serve, or `undefined` (also while none has
   * published). A refusal is confirmed against a fresh read, so a worker that just started serving it is seen.
   */
  async problem(
    taskQueue: string,
    request: {
      model?: string | undefined;
      tools?: readonly string[] | undefined;
      approvalTools?: readonly string[] | undefined;
    },
  ): Promise<string | undefined> {
    const cached = await this.get(taskQueue);
    if (!cached || catalogProblem(cached, request) === undefined) return undefined;
    const fresh = await this.get(taskQueue, { fresh: true });
    return fresh && catalogProblem(fresh, request);
  }
}

/**
 * Why `request` asks for something the catalog does not serve, or `undefined`. Names only what the caller asked
 * for, never what the worker serves (that is the operator's business, not any tenant's).
 */
export function catalogProblem(
  catalog: WorkerCatalog,
  request: {
    model?: string | undefined;
    tools?: readonly string[] | undefined;
    approvalTools?: readonly string[] | undefined;
  },
): string | undefined {
  if (request.model !== undefined && !catalog.models.includes(request.model)) {
    return `unknown model "${request.model}"`;
  }
  const asked = [...new Set([...(request.tools ?? []), ...(request.approvalTools ?? [])])];
  const unknown = asked.filter((name) => !catalog.tools.includes(name));
  if (unknown.length > 0) return `unknown tool(s): ${unknown.map((n) => `"${n}"`).join(', ')}`;
  return undefined;
}
