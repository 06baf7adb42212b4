import { z } from 'zod';

/** seedrandom's ARC4 state, as Rng.state() returns it */
export const RngStateSchema = z.object({
  i: z.number().int().min(0).max(255),
  j: z.number().int().min(0).max(255),
  S: z.array(z.number().int().min(0).max(255)).length(256),
});
