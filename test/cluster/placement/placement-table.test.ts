import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Colocation,
  fmix32,
  HASH_VERSION,
  murmur3_32,
  PlacementTable,
} from '../../../cluster/placement/index.ts';

/** `device/tenant-T:dev-D`, tenants × devices of them, in a fixed order. */
function deviceIdentities(tenants: number, devicesPerTenant: number): string[] {
  const identities: string[] = [];
  for (let tenant = 0; tenant < tenants; tenant++) {
    for (let device = 0; device < devicesPerTenant; device++) {
      identities.push(`device/tenant-${tenant}:dev-${device}`);
    }
  }
  return identities;
}

const nodeIds = (count: number): string[] =>
  Array.from({ length: count }, (_, i) => `node-${i + 1}`);

/** Realistic-looking ids that share long prefixes, a harder case for a hash than `node-N`. */
const addressIds = (count: number): string[] =>
  Array.from({ length: count }, (_, i) => `gito-node-${i}.gito.svc.cluster.local:7070`);

function ownerCounts(table: PlacementTable, identities: readonly string[]): Map<string, number> {
  const counts = new Map(table.members.map((member) => [member, 0]));
  for (const identity of identities) {
    const owner = table.ownerOf(identity);
    counts.set(owner, (counts.get(owner) ?? 0) + 1);
  }
  return counts;
}

/** HASH_VERSION 1 written out from its definition, slowly, to check the fast path against. */
function referenceOwner(members: readonly string[], placementKey: string): string {
  const utf8 = (text: string) => new TextEncoder().encode(text);
  const keyHash = murmur3_32(utf8(placementKey), 0);
  let owner = '';
  let ownerScore = -1;
  for (const member of [...members].sort()) {
    const score = fmix32(keyHash ^ murmur3_32(utf8(member), 0x6769746f));
    if (score > ownerScore) {
      ownerScore = score;
      owner = member;
    }
  }
  return owner;
}

const oneMillion = deviceIdentities(1000, 1000);

describe('PlacementTable balance (1,000,000 identities)', () => {
  it.each([
    [3, 'node-N', nodeIds(3)],
    [3, 'address', addressIds(3)],
    [5, 'node-N', nodeIds(5)],
    [5, 'address', addressIds(5)],
    [10, 'node-N', nodeIds(10)],
    [10, 'address', addressIds(10)],
  ])('%i members (%s ids): no member owns more than 1.1x its fair share', (count, _, members) => {
    const counts = ownerCounts(new PlacementTable(members), oneMillion);
    const fairShare = oneMillion.length / count;
    for (const [member, owned] of counts) {
      expect(owned / fairShare, `${member} owns ${owned} of ${oneMillion.length}`).toBeLessThan(
        1.1,
      );
    }
  });
});

describe('PlacementTable determinism', () => {
  const memberIds = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 24 }), {
    minLength: 1,
    maxLength: 12,
  });

  it('gives every identity the same owner whatever the order of the members', () => {
    const membersAndPermutation = memberIds.chain((members) =>
      fc.tuple(
        fc.constant(members),
        fc.shuffledSubarray(members, { minLength: members.length, maxLength: members.length }),
      ),
    );
    const identities = fc.array(fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }), {
      minLength: 1,
      maxLength: 50,
    });
    fc.assert(
      fc.property(membersAndPermutation, identities, ([members, permuted], sample) => {
        const table = new PlacementTable(members);
        const permutedTable = new PlacementTable(permuted);
        for (const identity of sample) {
          expect(permutedTable.ownerOf(identity)).toBe(table.ownerOf(identity));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('computes exactly the owner that HASH_VERSION 1 defines', () => {
    expect(HASH_VERSION).toBe(1);
    fc.assert(
      fc.property(memberIds, fc.string({ unit: 'binary', maxLength: 40 }), (members, identity) => {
        expect(new PlacementTable(members).ownerOf(identity)).toBe(
          referenceOwner(members, identity),
        );
      }),
      { numRuns: 1000 },
    );
  });

  it('keeps these owners forever under HASH_VERSION 1 (change them only with a new version)', () => {
    const table = new PlacementTable(['node-c', 'node-a', 'node-b']);
    const pinned: ReadonlyArray<readonly [identity: string, owner: string]> = [
      ['device/acme:pump-17', 'node-a'],
      ['device/acme:pump-18', 'node-a'],
      ['rule/acme:42', 'node-b'],
      ['escalation/acme:alert-9001', 'node-b'],
      ['device/globex:valve-3', 'node-b'],
      ['notification/acme:sms', 'node-c'],
      ['device/tenant-1:dev-1', 'node-c'],
      ['device/тест:датчик-1', 'node-b'],
    ];
    for (const [identity, owner] of pinned) expect(table.ownerOf(identity), identity).toBe(owner);
  });

  it('lists its members in placement (sorted) order, frozen', () => {
    const table = new PlacementTable(['node-c', 'node-a', 'node-b']);
    expect(table.members).toEqual(['node-a', 'node-b', 'node-c']);
    expect(Object.isFrozen(table.members)).toBe(true);
  });
});

describe('PlacementTable movement on membership change', () => {
  const identities = deviceIdentities(400, 500);

  it('adding a 4th member moves about 1/4 of the identities, all to the new member', () => {
    const before = new PlacementTable(nodeIds(3));
    const after = before.withMembers(nodeIds(4));
    let moved = 0;
    const movedElsewhere: string[] = [];
    for (const identity of identities) {
      const owner = after.ownerOf(identity);
      if (owner === before.ownerOf(identity)) continue;
      moved++;
      if (owner !== 'node-4') movedElsewhere.push(identity);
    }
    expect(movedElsewhere).toEqual([]);
    expect(moved / identities.length).toBeGreaterThan(0.24);
    expect(moved / identities.length).toBeLessThan(0.26);
  });

  it("removing a member moves only that member's identities, spread over the others", () => {
    const before = new PlacementTable(nodeIds(4));
    const after = new PlacementTable(['node-1', 'node-2', 'node-4']);
    const receivedFromNode3 = new Map<string, number>();
    const movedNeedlessly: string[] = [];
    for (const identity of identities) {
      const previous = before.ownerOf(identity);
      const owner = after.ownerOf(identity);
      if (previous === 'node-3') {
        receivedFromNode3.set(owner, (receivedFromNode3.get(owner) ?? 0) + 1);
      } else if (owner !== previous) {
        movedNeedlessly.push(identity);
      }
    }
    expect(movedNeedlessly).toEqual([]);
    const node3Share = [...receivedFromNode3.values()].reduce((sum, n) => sum + n, 0);
    for (const received of receivedFromNode3.values()) {
      expect(received / node3Share).toBeGreaterThan(0.3);
    }
  });
});

describe('PlacementTable co-location', () => {
  // A rule's per-device worker `rule-worker/<rule>@<device key>` runs where its device runs.
  const colocation = new Colocation().register('rule-worker', (key) => {
    const at = key.indexOf('@device:');
    return at < 0 ? undefined : `device/${key.slice(at + '@device:'.length)}`;
  });

  it('places a co-located identity with the identity its kind names', () => {
    for (const members of [nodeIds(3), nodeIds(5), addressIds(10)]) {
      const table = new PlacementTable(members, { colocation });
      for (const device of deviceIdentities(20, 50)) {
        const deviceKey = device.slice('device/'.length);
        expect(table.ownerOf(`rule-worker/acme:42@device:${deviceKey}`)).toBe(
          table.ownerOf(device),
        );
      }
    }
  });

  it('places by the own identity when the rule returns undefined, and leaves other kinds alone', () => {
    const plain = new PlacementTable(nodeIds(5));
    const table = new PlacementTable(nodeIds(5), { colocation });
    for (const identity of [
      'rule-worker/acme:42-without-device',
      'device/acme:pump-17',
      'rule/acme:42',
      'not-an-identity',
    ]) {
      expect(table.ownerOf(identity), identity).toBe(plain.ownerOf(identity));
    }
  });

  it('keeps the co-location rules in a table for the next membership', () => {
    const next = new PlacementTable(nodeIds(3), { colocation }).withMembers(nodeIds(7));
    expect(next.ownerOf('rule-worker/acme:1@device:acme:pump-17')).toBe(
      next.ownerOf('device/acme:pump-17'),
    );
  });

  it('refuses an invalid kind and a second rule for the same kind', () => {
    const rules = new Colocation().register('rule-worker', () => undefined);
    expect(() => rules.register('rule-worker', () => undefined)).toThrow(/already registered/);
    expect(() => rules.register('Bad Kind', () => undefined)).toThrow(/invalid actor kind/);
    expect(rules.kinds).toEqual(['rule-worker']);
  });
});

describe('PlacementTable membership validation', () => {
  it('refuses no members, an empty member id and duplicate members', () => {
    expect(() => new PlacementTable([])).toThrow(/at least one member/);
    expect(() => new PlacementTable(['node-1', ''])).toThrow(/empty/);
    expect(() => new PlacementTable(['node-1', 'node-2', 'node-1'])).toThrow(/duplicate/);
  });

  it('gives everything to the only member of a one-node cluster', () => {
    const table = new PlacementTable(['solo']);
    expect(table.ownerOf('device/acme:pump-17')).toBe('solo');
  });
});
