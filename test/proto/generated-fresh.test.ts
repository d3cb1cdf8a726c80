import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const committedDir = join(repoRoot, 'proto', 'generated');

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

/** Paths (relative to proto/generated) that are missing, extra or different in `freshDir`. */
function staleFiles(freshDir: string): string[] {
  const fresh = listFiles(freshDir);
  const committed = listFiles(committedDir);
  const all = [...new Set([...fresh, ...committed])].sort();
  return all.filter((file) => {
    if (!fresh.includes(file) || !committed.includes(file)) return true;
    return !readFileSync(join(freshDir, file)).equals(readFileSync(join(committedDir, file)));
  });
}

describe('proto/generated', () => {
  const outBase = mkdtempSync(join(tmpdir(), 'gito-gen-proto-'));
  afterAll(() => rmSync(outBase, { recursive: true, force: true }));

  it('matches what scripts/gen-proto.sh generates from proto/', () => {
    execFileSync('bash', [join(repoRoot, 'scripts', 'gen-proto.sh'), outBase], {
      cwd: repoRoot,
      stdio: 'pipe',
    });
    const stale = staleFiles(join(outBase, 'proto', 'generated'));
    expect(
      stale,
      `proto/generated is stale (differs in: ${stale.join(', ')}): run npm run gen:proto`,
    ).toEqual([]);
  });
});
