/**
 * Version of the node-to-node wire contract (proto/gito/cluster/v1), sent in Hello. Bump it when
 * a change to the .proto would be misread by a node running the previous release; adding a field
 * that older nodes may ignore does not need a bump.
 */
export const PROTOCOL_VERSION = 1;
