/** Why a change to a network's tables was refused: the message names what to fix. */
export class TableError extends Error {}

/** A change refused because a table is at its bound (max-static-macs, max-evpn-macs, max-remotes). */
export class LimitError extends TableError {}
