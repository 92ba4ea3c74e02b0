/** Hears whether the shared store answers (the outage log's view of Redis). */
export interface StoreHealth {
  answered: () => void;
  failed: (error: unknown) => void;
}

/** For stores whose outages nobody watches (memory stores, tests). */
export const noHealth: StoreHealth = { answered: () => undefined, failed: () => undefined };
