import type { ActorId } from '../../runtime/identity.ts';
import type { Colocation } from './colocation.ts';
import { murmur3_32Utf8 } from './murmur3.ts';

/**
 * Version of the placement function below. Nodes exchange it when they connect (Hello) and
 * refuse a peer with another version: two nodes that place differently would each believe the
 * other owns an identity and forward its messages back and forth.
 *
 * Version 1 pins:
 * - key hash: MurmurHash3 x86_32, seed 0, over the UTF-8 bytes of the placement key (the
 *   identity, or what its kind's co-location rule returns);
 * - member seed: MurmurHash3 x86_32, seed MEMBER_SEED, over the UTF-8 bytes of the member id;
 * - score of a member for a key: fmix32(keyHash XOR memberSeed), as an unsigned 32-bit integer;
 * - owner: the member with the highest score; on a tie, the member whose id sorts first
 *   (JavaScript default string order, by UTF-16 code units).
 */
export const HASH_VERSION = 1;

/** 'gito' in ASCII: keeps member seeds apart from key hashes of the same text. */
const MEMBER_SEED = 0x6769746f;

/*
 * Why rendezvous (highest random weight) hashing rather than a ring of virtual nodes, measured
 * on this machine with 1,000,000 identities `device/tenant-T:dev-D`:
 * - balance: rendezvous put at most 1.005x the fair share on any member with 3, 5 and 10
 *   members, for member ids shaped `node-N`, `host.domain:port` or UUIDs: sampling noise only,
 *   nothing to tune. A ring reached up to 1.19x (128 virtual nodes per member), 1.15x (256) and
 *   1.07x (512-1024) at 10 members, and 1.14-1.18x at 30 members even with 512-1024.
 * - movement: both move only what they must; rendezvous does so exactly by construction (a key
 *   changes owner only when a new member outscores its owner, or its owner leaves).
 * - cost: one key hash (about 30 ns for a 30-character identity) plus about 4 ns per member,
 *   so 50 / 60 / 75 ns per lookup at 3 / 5 / 10 members and 250 ns at 100; no table to build
 *   per epoch. A 1024-vnode ring was no faster below 10 members. Lookup is O(members): well
 *   beyond a hundred members a ring or hierarchical rendezvous (a new HASH_VERSION) would win.
 */

/** Which member owns which identity, for one membership (one topology epoch). */
export class PlacementTable {
  /** Member ids in placement order (sorted), so input order cannot change any owner. */
  readonly members: readonly string[];
  private readonly memberSeeds: Int32Array;
  private readonly colocation: Colocation | undefined;

  constructor(members: readonly string[], options: { colocation?: Colocation } = {}) {
    if (members.length === 0) throw new Error('placement needs at least one member');
    const sorted = [...members].sort();
    for (let i = 0; i < sorted.length; i++) {
      if (sorted[i] === '') throw new Error('placement member id is empty');
      if (sorted[i] === sorted[i + 1]) throw new Error(`duplicate placement member '${sorted[i]}'`);
    }
    this.members = Object.freeze(sorted);
    this.memberSeeds = Int32Array.from(sorted, (id) => murmur3_32Utf8(id, MEMBER_SEED));
    this.colocation = options.colocation;
  }

  /** A table for another membership (a new epoch) with the same co-location rules. */
  withMembers(members: readonly string[]): PlacementTable {
    return new PlacementTable(
      members,
      this.colocation === undefined ? {} : { colocation: this.colocation },
    );
  }

  /** The member that hosts `identity`. Runs for every message: no allocation, no cache. */
  ownerOf(identity: ActorId): string {
    const placementKey =
      this.colocation === undefined ? identity : this.colocation.placementKeyOf(identity);
    return this.members[this.ownerIndex(murmur3_32Utf8(placementKey))]!;
  }

  private ownerIndex(keyHash: number): number {
    const seeds = this.memberSeeds;
    let best = 0;
    let bestScore = -1;
    for (let i = 0; i < seeds.length; i++) {
      // fmix32 (murmur3.ts), inlined: this loop is the whole per-member cost of a lookup.
      let score = keyHash ^ seeds[i]!;
      score ^= score >>> 16;
      score = Math.imul(score, 0x85ebca6b);
      score ^= score >>> 13;
      score = Math.imul(score, 0xc2b2ae35);
      score = (score ^ (score >>> 16)) >>> 0;
      // Strictly greater: on a tie the member that sorts first keeps it.
      if (score > bestScore) {
        bestScore = score;
        best = i;
      }
    }
    return best;
  }
}
