/** Credentials and identifiers: token issue/parse/hash and id generation (see README.md). */
export type { RecordIdPrefix } from "./ids.js";
export {
  isOrgId,
  isRecordId,
  isTenantId,
  newInstanceUid,
  newOrgId,
  newRecordId,
  newTenantId,
} from "./ids.js";
export type { IssuedToken, ParsedToken, TokenKind } from "./token.js";
export {
  bearerCredential,
  constantTimeEqual,
  displayPrefixOf,
  hashToken,
  issueToken,
  keyFingerprint,
  parseBearer,
  parseToken,
  TOKEN_PREFIXES,
} from "./token.js";
