-- 0004_audit: the audit log (hash-chained per tenant), its per-tenant head and retention, and the
-- marker of an erased user. See docs/audit-and-gdpr.md and db/audit/.
--
-- Design
-- - One chain per tenant ('_global' for requests that carry no tenant, e.g. anonymous refusals:
--   tenant ids cannot start with '_'). No foreign key to tenants: the log outlives a deleted
--   tenant and must never refuse a record.
-- - A record's hash = sha256(prev_hash || canonical JSON of its public fields), computed by the
--   application (db/audit/chain.ts). The public fields hold no personal data. The personal fields
--   (actor_display, ip, user_agent, diff) are covered through personal_digest =
--   sha256(personal_salt || canonical JSON of them), so GDPR erasure can rewrite them without
--   breaking the chain: the erasure record (itself chained) lists the new digest of every row it
--   rewrote, and the row points at it with pseudonymised_by.
-- - Appends lock the tenant's audit_heads row (INSERT ... ON CONFLICT DO UPDATE ... RETURNING),
--   so concurrent writers, on any number of processes, never fork the chain.
-- - Retention deletes a prefix of the chain and keeps the hash of the last deleted record as the
--   head's anchor; verification starts from there.

CREATE TABLE audit_log (
  tenant_id        text        NOT NULL,
  seq              bigint      NOT NULL CHECK (seq > 0),
  at               timestamptz NOT NULL,
  actor_kind       text        NOT NULL
                               CHECK (actor_kind IN ('user', 'api_key', 'device', 'system',
                                                     'anonymous')),
  -- users.id, api_keys.id, device key or system component name; NULL when anonymous.
  actor_id         text,
  action           text        NOT NULL,
  resource_type    text        NOT NULL,
  resource_id      text,
  request_id       text,
  -- HTTP status; NULL for records written outside HTTP (CLI, actors).
  status           integer,
  outcome          text        NOT NULL CHECK (outcome IN ('ok', 'refused', 'error')),
  personal_digest  text        NOT NULL CHECK (personal_digest ~ '^[0-9a-f]{64}$'),
  prev_hash        text        NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
  hash             text        NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
  -- Personal fields: outside the hash, covered by personal_digest (see above).
  actor_display    text,
  ip               text,
  user_agent       text,
  -- {"before": ..., "after": ..., "changed": [top-level keys]}, secrets redacted.
  diff             jsonb,
  personal_salt    bytea       NOT NULL,
  -- seq of the erasure record that rewrote the personal fields; NULL when untouched.
  pseudonymised_by bigint,
  PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX audit_log_tenant_at ON audit_log (tenant_id, at);
CREATE INDEX audit_log_tenant_actor ON audit_log (tenant_id, actor_kind, actor_id, seq)
  WHERE actor_id IS NOT NULL;
CREATE INDEX audit_log_tenant_resource ON audit_log (tenant_id, resource_type, resource_id, seq);

-- The chained fields never change once written: a bug (or a careless UPDATE) is refused here;
-- deliberate tampering by a database superuser is what the hash chain detects.
CREATE FUNCTION gito_audit_log_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF (NEW.tenant_id, NEW.seq, NEW.at, NEW.actor_kind, NEW.actor_id, NEW.action, NEW.resource_type,
      NEW.resource_id, NEW.request_id, NEW.status, NEW.outcome, NEW.personal_digest,
      NEW.prev_hash, NEW.hash)
     IS DISTINCT FROM
     (OLD.tenant_id, OLD.seq, OLD.at, OLD.actor_kind, OLD.actor_id, OLD.action, OLD.resource_type,
      OLD.resource_id, OLD.request_id, OLD.status, OLD.outcome, OLD.personal_digest,
      OLD.prev_hash, OLD.hash)
  THEN
    RAISE EXCEPTION 'audit_log records are append-only (only personal fields may be pseudonymised)'
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER audit_log_immutable BEFORE UPDATE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION gito_audit_log_immutable();

-- The end of each tenant's chain (seq and hash of its last record; 0 and 64 zeros when empty) and
-- the retention anchor (last deleted record; 0 and 64 zeros when nothing was deleted).
CREATE TABLE audit_heads (
  tenant_id   text        PRIMARY KEY,
  seq         bigint      NOT NULL DEFAULT 0 CHECK (seq >= 0),
  hash        text        NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
  anchor_seq  bigint      NOT NULL DEFAULT 0 CHECK (anchor_seq >= 0 AND anchor_seq <= seq),
  anchor_hash text        NOT NULL CHECK (anchor_hash ~ '^[0-9a-f]{64}$'),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Audit records older than this are deleted for the tenant (db/audit/retention.ts); NULL keeps
-- them forever.
ALTER TABLE tenants ADD COLUMN audit_retention_days integer
  CHECK (audit_retention_days BETWEEN 1 AND 36500);

-- Set when a user's personal data was erased (GDPR): the row stays, with a placeholder email and
-- no name, phone or credentials, so that ids in history (alerts acted on, audit actors) resolve.
ALTER TABLE users ADD COLUMN erased_at timestamptz;
