import type { DefinitionRepo, StoredDefinition } from '../../db/alerts/rule-repo.ts';
import { afterId, idPage, type PageOf, pageSize } from '../http/pagination.ts';
import { notFound } from '../http/problem.ts';

/**
 * What the rule and maintenance-window resources share: both are stored definitions (JSON with a
 * version, deleted rows kept for history), read and paged the same way.
 */
type Repo<D> = DefinitionRepo<D & { readonly name: string; readonly enabled?: boolean }>;

/** A live (not deleted) definition of the tenant, or the resource's 404. */
export async function liveDefinition<D>(
  repo: Repo<D>,
  tenantId: string,
  id: string,
  noun: string,
): Promise<StoredDefinition<D & { readonly name: string; readonly enabled?: boolean }>> {
  const row = await repo.get(tenantId, id);
  if (row === undefined || row.deletedAt !== null) throw notFound(noun, id);
  return row;
}

/** One page of the tenant's live definitions, shown by `show`. */
export async function definitionPage<D, T extends { id: string }>(
  repo: Repo<D>,
  tenantId: string,
  query: { limit?: number | undefined; cursor?: string | undefined },
  show: (row: StoredDefinition<D & { readonly name: string; readonly enabled?: boolean }>) => T,
): Promise<PageOf<T>> {
  const limit = pageSize(query);
  const after = afterId(query);
  const rows = await repo.list(tenantId, {
    ...(after === undefined ? {} : { afterId: after }),
    limit: limit + 1,
  });
  return idPage({ items: rows.slice(0, limit).map(show), more: rows.length > limit });
}
