import type { Identity } from '@nuri/contracts/identity';

// 실명확인: whether a name belongs to an RRN is something only a real-name
// verification agency (NICE, KCB, the public services behind them) can say.
// This port is where such an agency plugs in. Without one, nothing can tell
// a person's own registration from someone typing their RRN with another
// name: the local implementation says so (FORMAT_ONLY) instead of
// pretending, and the registry records, per person, what was checked.

export type VerificationLevel = 'AGENCY' | 'FORMAT_ONLY';

export type Verification =
  /** The agency confirmed that this name holds this RRN. */
  | { outcome: 'MATCH'; level: 'AGENCY' }
  /** The agency says the name does not hold this RRN. */
  | { outcome: 'MISMATCH'; level: 'AGENCY' }
  /** Nothing beyond the format was checked (parseIdentity: characters, a real birth date, the gender digit). */
  | { outcome: 'UNVERIFIED'; level: 'FORMAT_ONLY' };

export interface RealNameVerifier {
  readonly level: VerificationLevel;
  verify(identity: Identity): Promise<Verification>;
}

/** The development and test implementation: honest that it checks the format alone. */
export function createFormatOnlyVerifier(): RealNameVerifier {
  return {
    level: 'FORMAT_ONLY',
    async verify() {
      return { outcome: 'UNVERIFIED', level: 'FORMAT_ONLY' };
    },
  };
}
