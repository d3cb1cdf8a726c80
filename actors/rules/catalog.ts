import type { Pool, PoolClient } from 'pg';
import { DefinitionRepo, type StoredDefinition } from '../../db/alerts/rule-repo.ts';
import { type CompiledRule, compileRule } from './eval/index.ts';
import type { MaintenanceWindow, Rule, RuleDefinition } from './model.ts';
import { scopeMatches } from './scope.ts';

type WindowDefinition = Omit<MaintenanceWindow, 'id' | 'tenantId'>;

/** What the catalogue knows of a device to decide which rules apply. */
export interface DeviceScopeInfo {
  readonly key: string;
  readonly groups: readonly string[];
  readonly tags: readonly string[];
}

interface TenantRules {
  readonly rules: Map<string, CompiledRule>;
  readonly windows: Map<string, MaintenanceWindow>;
}

export interface RuleCatalogOptions {
  /** Fallback poll for changes missed by LISTEN (reconnects, PGlite). Default 10 s. */
  readonly pollEveryMs?: number;
  readonly onError?: (err: unknown) => void;
  /**
   * Called after rules of a tenant changed (rule ids that changed, incl. removed ones; every
   * rule of the tenant when one of its maintenance windows changed).
   */
  readonly onChange?: (tenantId: string, ruleIds: readonly string[]) => void;
}

/**
 * Every enabled rule and maintenance window of every tenant, compiled once and kept in memory
 * on each node (docs/alerting.md, decision 5). Lookups are synchronous so device actors can use
 * them inside a turn. `version` grows on every change; device actors compare it with the one
 * they resolved their rules at.
 */
export class RuleCatalog {
  private readonly tenants = new Map<string, TenantRules>();
  private readonly rulesRepo: DefinitionRepo<RuleDefinition>;
  private readonly windowsRepo: DefinitionRepo<WindowDefinition>;
  private lastSeenMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private listener: PoolClient | undefined;
  private refreshing: Promise<void> | undefined;
  private again = false;
  version = 0;
  /** Rules that failed to compile (stored before a format change?): skipped, counted. */
  invalid = 0;

  constructor(
    private readonly pool: Pool,
    private readonly options: RuleCatalogOptions = {},
  ) {
    this.rulesRepo = new DefinitionRepo(pool, 'rules');
    this.windowsRepo = new DefinitionRepo(pool, 'maintenance_windows');
  }

  /** Loads everything and starts following changes. */
  async start(): Promise<void> {
    await this.refresh();
    try {
      const client = await this.pool.connect();
      client.on('notification', () => void this.refresh());
      client.on('error', (err) => this.options.onError?.(err));
      await client.query('LISTEN gito_rules');
      this.listener = client;
    } catch (err) {
      // Polling alone still converges; LISTEN is the fast path.
      this.options.onError?.(err);
    }
    this.timer = setInterval(() => void this.refresh(), this.options.pollEveryMs ?? 10_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    const listener = this.listener;
    this.listener = undefined;
    if (listener !== undefined) {
      await listener.query('UNLISTEN *').catch(() => undefined);
      listener.release();
    }
    await this.refreshing;
  }

  /** Re-reads what changed since the last read (coalesced: one refresh at a time). */
  refresh(): Promise<void> {
    if (this.refreshing !== undefined) {
      this.again = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      try {
        do {
          this.again = false;
          await this.load();
        } while (this.again);
      } catch (err) {
        this.options.onError?.(err);
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  hasRules(tenantId: string): boolean {
    return (this.tenants.get(tenantId)?.rules.size ?? 0) > 0;
  }

  rule(tenantId: string, ruleId: string): CompiledRule | undefined {
    return this.tenants.get(tenantId)?.rules.get(ruleId);
  }

  /** Enabled rules whose scope includes the device. */
  rulesFor(tenantId: string, device: DeviceScopeInfo): CompiledRule[] {
    const tenant = this.tenants.get(tenantId);
    if (tenant === undefined) return [];
    const out: CompiledRule[] = [];
    for (const rule of tenant.rules.values()) {
      if (scopeMatches(rule.rule.scope, device)) out.push(rule);
    }
    return out;
  }

  /** All enabled rules of a tenant. */
  rulesOf(tenantId: string): CompiledRule[] {
    return [...(this.tenants.get(tenantId)?.rules.values() ?? [])];
  }

  windowsOf(tenantId: string): MaintenanceWindow[] {
    return [...(this.tenants.get(tenantId)?.windows.values() ?? [])];
  }

  private tenant(id: string): TenantRules {
    let t = this.tenants.get(id);
    if (t === undefined) {
      t = { rules: new Map(), windows: new Map() };
      this.tenants.set(id, t);
    }
    return t;
  }

  private async load(): Promise<void> {
    // Overlap the window a little: updated_at is the transaction's start time, so a change
    // committed late can carry a time before the previous read.
    const since = this.lastSeenMs === 0 ? 0 : this.lastSeenMs - 5_000;
    const startedAt = Date.now();
    const [rules, windows] = await Promise.all([
      this.rulesRepo.changedSince(since),
      this.windowsRepo.changedSince(since),
    ]);
    const changed = new Map<string, Set<string>>();
    for (const row of rules) {
      if (this.applyRule(row)) {
        const set = changed.get(row.tenantId) ?? new Set<string>();
        changed.set(row.tenantId, set);
        set.add(row.id);
      }
    }
    let windowsChanged = false;
    for (const row of windows) {
      if (!this.applyWindow(row)) continue;
      windowsChanged = true;
      // Every rule of the tenant re-checks suppression and re-arms its window boundaries.
      const set = changed.get(row.tenantId) ?? new Set<string>();
      changed.set(row.tenantId, set);
      for (const id of this.tenant(row.tenantId).rules.keys()) set.add(id);
    }
    this.lastSeenMs = startedAt;
    if (changed.size > 0 || windowsChanged) this.version++;
    // The first load is the catalogue's starting point, not a change: rule actors read it when
    // they activate (and their kind may not even be registered yet).
    if (since === 0) return;
    for (const [tenantId, ids] of changed) this.options.onChange?.(tenantId, [...ids]);
  }

  private applyRule(row: StoredDefinition<RuleDefinition>): boolean {
    const tenant = this.tenant(row.tenantId);
    const current = tenant.rules.get(row.id);
    if (row.deletedAt !== null || !row.enabled) {
      return tenant.rules.delete(row.id) || current !== undefined;
    }
    if (current !== undefined && current.rule.version === row.version) return false;
    const rule: Rule = {
      ...row.definition,
      id: row.id,
      tenantId: row.tenantId,
      version: row.version,
    };
    try {
      tenant.rules.set(row.id, compileRule(rule));
    } catch (err) {
      this.invalid++;
      tenant.rules.delete(row.id);
      this.options.onError?.(err);
    }
    return true;
  }

  private applyWindow(row: StoredDefinition<WindowDefinition>): boolean {
    const tenant = this.tenant(row.tenantId);
    if (row.deletedAt !== null) return tenant.windows.delete(row.id);
    const current = tenant.windows.get(row.id);
    const window: MaintenanceWindow = { ...row.definition, id: row.id, tenantId: row.tenantId };
    tenant.windows.set(row.id, window);
    return current === undefined || JSON.stringify(current) !== JSON.stringify(window);
  }
}
