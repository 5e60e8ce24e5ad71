/**
 * Fingerprints of what a Depth 1 PROPFIND reads from the catalog (Storage.listingFingerprints):
 * the members of a collection (catalog_nodes as n) and the dead properties of the collection and
 * its members (catalog_props as p). A fingerprint is `count:xor` of a 64-bit hash of every row
 * (PostgreSQL's hash_record_extended over all that an Entry or a property is made from), taken
 * in the statement that reads the rows, so it describes exactly the rows read. Any member added,
 * removed, renamed, moved or rewritten, any property set or removed, changes it (a collision
 * needs two 64-bit hashes to cancel out). Needs PostgreSQL 14 or later (hash_record_extended,
 * bit_xor; open.ts turns the cache off before). ~3 ms for 10,000 members, a tenth of reading and
 * rendering them.
 */
import { TARGET, WALK } from './walk.js';
import { LISTING_PROPS_FROM } from './dead-props.js';

/** A member row's hash: every column an Entry is made of (catalog-storage.ts MEMBERS). */
const MEMBER_HASH = 'hash_record_extended((n.size, n.mtime_ms, n.created_ms, n.id, n.is_collection, n.name, n.etag), 0)';
/** A property row's hash, with the node it belongs to (getListing's rows). */
const PROP_HASH = 'hash_record_extended((n.id, n.name, p.ns, p.name, p.xml), 0)';

/** The fingerprint of the rows hashed by `hash`; zero rows give '0:0'. */
const fingerprintOf = (hash: string, over = ''): string => `count(*) ${over} || ':' || coalesce(bit_xor(${hash}) ${over}, 0)`;

/** The members' fingerprint of the collection at $1, alone (a subquery after WALK). */
const MEMBERS_NOW = `(SELECT ${fingerprintOf(MEMBER_HASH)} FROM catalog_nodes n WHERE n.parent = ${TARGET})`;

/** Both fingerprints of the collection at $1 now; the properties' only when $2. */
export const CURRENT = `${WALK}
SELECT ${MEMBERS_NOW} AS members, CASE WHEN $2::boolean THEN (SELECT ${fingerprintOf(PROP_HASH)} ${LISTING_PROPS_FROM}) END AS props`;

/**
 * A row after the members of `membersStatement` (its one text column) carrying their fingerprint,
 * marked by a leading 'f' (a member row starts with its size, a digit). Both branches run in the
 * one statement, on the one snapshot.
 */
export const withMembersFingerprint = (membersStatement: string): string => `${WALK}
(${membersStatement}) UNION ALL (SELECT 'f' || ${fingerprintOf(MEMBER_HASH)} FROM catalog_nodes n WHERE n.parent = ${TARGET})`;

/** Tells the fingerprint row of withMembersFingerprint from a member row. */
export const FINGERPRINT_MARK = 'f';

/** A column of every property row giving the fingerprint of all of them (getListing's statement). */
export const PROPS_FINGERPRINT_COLUMN = `${fingerprintOf(PROP_HASH, 'OVER ()')} AS fingerprint`;

/** The fingerprint of a properties read that found no row (as CURRENT gives it). */
export const NO_PROPS_FINGERPRINT = '0:0';

/** One fingerprint of members and properties, as ListingFingerprints gives it. */
export const combined = (members: string, props: string | null): string => (props === null ? members : `${members}|${props}`);
