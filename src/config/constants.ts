// Limits and defaults of the configuration, named once.
/** A config file is read only up to this size: /dev/zero must not fill the memory. */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** YAML aliases resolved at most: a "billion laughs" file is refused, not expanded. */
export const MAX_ALIASES = 1000;
/** A Unix socket address holds 108 bytes, the last one a NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;
export const DEFAULT_TTL = 64;
/** Busy polling after traffic, as SO_BUSY_POLL does in the kernel: saves a wake-up per reply. */
export const DEFAULT_BUSY_POLL_US = 200;
export const GRE_SOCKETS = ['packet', 'raw'] as const;
export type GreSocket = (typeof GRE_SOCKETS)[number];
export const DEFAULT_GRE_SOCKET: GreSocket = 'packet';
