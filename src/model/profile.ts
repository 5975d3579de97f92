/** Profiles: how eager every stage is (thresholds, ban lengths, responses), chosen once for the host. */

export const PROFILE_NAMES = ['normal', 'aggressive', 'paranoid'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];
