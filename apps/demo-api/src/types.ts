/** One issuer whose access tokens the demo API accepts. */
export interface TrustedIssuer {
  /** Exact `iss` value. */
  issuer: string;
  /** Signing keys come ONLY from here, never from `jku`/`jwk`/`x5u`/`x5c` in the token header. */
  jwksUri: string;
  audience: string | string[];
  /** Pinned algorithms; default `['RS256']`. `none` and HS* are refused at start-up. */
  algorithms?: string[];
  /** Default true: the header `typ` must be `at+jwt` (RFC 9068), which rejects ID tokens. */
  requireTyp?: boolean;
}

export interface DemoApiOptions {
  /** Default 0 (a free port). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  trustedIssuers: TrustedIssuer[];
  /** Leeway for `exp`/`nbf`; default 5. */
  clockToleranceSeconds?: number;
}

/** What a verified access token tells the routes. */
export interface VerifiedAccessToken {
  iss: string;
  sub: string;
  aud: string | string[];
  claims: Record<string, unknown>;
  /** The thumbprint of the DPoP key the token is bound to, when it came with a valid proof. */
  dpopJkt?: string;
}

/** Counters that let tests see that timers stop when a client goes away. */
export interface DemoApiStats {
  openEventStreams: number;
  pendingSlowRequests: number;
}
