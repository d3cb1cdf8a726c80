export { Colocation, type PlaceWith } from './colocation.ts';
export { fmix32, murmur3_32, murmur3_32Utf8 } from './murmur3.ts';
export { HASH_VERSION, PlacementTable } from './placement-table.ts';
