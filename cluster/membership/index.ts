export { InMemoryMembership, type InMemoryMembershipOptions, InMemoryRegistry } from './memory.ts';
export {
  membershipKeys,
  RedisMembership,
  type RedisMembershipOptions,
  redisOptionsForMembership,
} from './redis.ts';
export type { Member, MembershipProvider, Topology } from './types.ts';
export { InvalidMemberError, validateMember } from './validate.ts';
