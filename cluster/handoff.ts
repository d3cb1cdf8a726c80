import type { PlacementTable } from './placement/index.ts';

/**
 * Which identities this node may activate now (docs/cluster.md, "Handoff").
 *
 * After a topology change a node keeps the placement tables of every epoch since it was last
 * *settled* (all other live members confirmed they host nothing they do not own). An identity it
 * owns now but did not own in one of those epochs may still be active elsewhere: messages for it
 * are held until every other live member confirms the current epoch.
 */
export class HandoffState {
  private tables: PlacementTable[];
  private epoch: number;
  private peers: readonly string[] = [];
  private readonly confirmed = new Map<string, number>();
  /** True after a (re)join: we know nothing of the past, so everything we own may be elsewhere. */
  private unknownPast: boolean;

  constructor(
    private readonly self: string,
    table: PlacementTable,
    epoch: number,
    peers: readonly string[],
  ) {
    this.tables = [table];
    this.epoch = epoch;
    this.peers = peers;
    this.unknownPast = peers.length > 0;
  }

  get settled(): boolean {
    return this.tables.length === 1 && !this.unknownPast;
  }

  get currentEpoch(): number {
    return this.epoch;
  }

  /** A new topology: remember its table until the cluster settles on it. */
  advance(epoch: number, table: PlacementTable, peers: readonly string[]): boolean {
    this.epoch = epoch;
    this.tables.push(table);
    this.peers = peers;
    return this.check();
  }

  /** Forget the past (lease lost and re-joined): hold everything until all peers confirm. */
  reset(epoch: number, table: PlacementTable, peers: readonly string[]): boolean {
    this.epoch = epoch;
    this.tables = [table];
    this.peers = peers;
    this.unknownPast = true;
    return this.check();
  }

  /** Peer confirmed it hosts nothing it does not own at `epoch`. Returns true when this settles. */
  confirm(peer: string, epoch: number): boolean {
    if ((this.confirmed.get(peer) ?? 0) < epoch) this.confirmed.set(peer, epoch);
    return this.check();
  }

  /** Peers whose confirmation of the current epoch is still missing. */
  waitingFor(): string[] {
    return this.peers.filter((p) => (this.confirmed.get(p) ?? 0) < this.epoch);
  }

  /** True when messages for `id` (which this node owns now) must wait for the handoff. */
  isPending(id: string): boolean {
    if (this.unknownPast) return true;
    const tables = this.tables;
    if (tables.length === 1) return false;
    for (let i = 0; i < tables.length - 1; i++)
      if (tables[i]!.ownerOf(id) !== this.self) return true;
    return false;
  }

  private check(): boolean {
    if (this.settled) return false;
    for (const peer of this.peers) if ((this.confirmed.get(peer) ?? 0) < this.epoch) return false;
    this.tables = [this.tables[this.tables.length - 1]!];
    this.unknownPast = false;
    for (const peer of this.confirmed.keys())
      if (!this.peers.includes(peer)) this.confirmed.delete(peer);
    return true;
  }
}
